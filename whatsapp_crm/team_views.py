"""Pages: the team (owners manage members and roles) and each user's API token."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.validators import ProhibitNullCharactersValidator
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from rest_framework.authtoken.models import Token

from whatsapp_crm import team, timezones
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.htmx import HtmxHttpRequest
from whatsapp_crm.models import OrganizationMember
from whatsapp_crm.roles import Role, role_required
from whatsapp_crm.tenancy import organization_required

NO_NUL = [ProhibitNullCharactersValidator()]


class MemberAddForm(forms.Form):
    username = forms.RegexField(
        regex=r"^[\w.@+-]+\Z",
        max_length=150,
        error_messages={"invalid": "Letters, digits and @ . + - _ only."},
    )
    email = forms.EmailField(required=False, max_length=254, validators=NO_NUL)
    password = forms.CharField(
        max_length=128,
        validators=NO_NUL,
        widget=forms.PasswordInput,
        help_text="A first password; tell it to the person, who can change it later.",
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=lambda: [(name, name) for name in timezones.time_zone_names()],
        help_text="Every page shows times in this zone; “today” on the start page begins at its "
        "midnight.",
    )


def _members(request: HtmxHttpRequest):
    return OrganizationMember.objects.filter(organization=request.organization).select_related(
        "user"
    )


@require_http_methods(["GET", "POST"])
@role_required(Role.OWNER)
def team_page(request: HtmxHttpRequest) -> HttpResponse:
    form = MemberAddForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                member = team.member_add(organization=request.organization, **form.cleaned_data)
            except ApplicationError as exc:
                for field, errors in exc.details.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
                if not exc.details:
                    form.add_error(None, exc.message)
            else:
                messages.success(
                    request, f"{member.user.username} was added as {member.get_role_display()}."
                )
                return redirect("team:page")
        status = 400
    return _render_team_page(request, form=form, status=status)


def _render_team_page(
    request: HtmxHttpRequest,
    *,
    form: MemberAddForm | None = None,
    zone_form: TimeZoneForm | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "members": _members(request),
        "form": form or MemberAddForm(),
        "roles": Role.choices,
        "zone_form": zone_form
        or TimeZoneForm(initial={"time_zone": request.organization.time_zone}),
    }
    return render(request, "whatsapp_crm/team_page.html", context, status=status)


@require_POST
@role_required(Role.OWNER)
def organization_time_zone(request: HtmxHttpRequest) -> HttpResponse:
    """Owners set the organization's time zone; an unknown name is refused, nothing changes."""
    zone_form = TimeZoneForm(request.POST)
    if not zone_form.is_valid():
        return _render_team_page(request, zone_form=zone_form, status=400)
    try:
        timezones.organization_set_time_zone(
            organization=request.organization, time_zone=zone_form.cleaned_data["time_zone"]
        )
    except ApplicationError as exc:
        zone_form.add_error("time_zone", exc.message)
        return _render_team_page(request, zone_form=zone_form, status=400)
    messages.success(request, f"Times are now shown in {request.organization.time_zone}.")
    return redirect("team:page")


@require_POST
@role_required(Role.OWNER)
def member_role(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(_members(request), pk=pk)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the roles: member, admin, owner.")
        return redirect("team:page")
    try:
        team.member_set_role(membership=membership, role=form.cleaned_data["role"])
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"{membership.user.username} is now {membership.get_role_display()}."
        )
    return redirect("team:page")


@require_POST
@role_required(Role.OWNER)
def member_remove(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    membership = get_object_or_404(_members(request), pk=pk)
    username = membership.user.username
    try:
        team.member_remove(membership=membership)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"{username} was removed; their login and API token no longer work."
        )
    return redirect("team:page")


@require_GET
@organization_required
def api_token_page(request: HtmxHttpRequest) -> HttpResponse:
    token = Token.objects.filter(user=request.user).first()
    return render(
        request,
        "whatsapp_crm/api_token_page.html",
        {"token_created": token.created if token else None, "new_key": None},
    )


@require_POST
@organization_required
def api_token_create(request: HtmxHttpRequest) -> HttpResponse:
    new = team.api_token_create(user=request.user)
    token = Token.objects.get(user=request.user)
    response = render(
        request,
        "whatsapp_crm/api_token_page.html",
        {"token_created": token.created, "new_key": new.key},
    )
    response["Cache-Control"] = "no-store"  # the key is shown once and must not be cached
    return response


@require_POST
@organization_required
def api_token_revoke(request: HtmxHttpRequest) -> HttpResponse:
    if team.api_token_revoke(user=request.user):
        messages.success(request, "Your API token was revoked: scripts using it now get 401.")
    else:
        messages.info(request, "You had no API token.")
    return redirect("team:api-token")
