"""Pages: campaigns (list, new, detail with live progress) and the queue.

Page POSTs go through `campaigns_app.forms` (the API's limits); the queue-row buttons and their
POSTs come from `campaigns_app.row_actions` (the table the admin uses too)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from campaigns_app import forms, selectors, services
from campaigns_app.models import NotificationCampaign, ScheduledWhatsAppMessage
from campaigns_app.row_actions import row_action_get, row_buttons
from sessions_app.models import WhatsAppSession
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.htmx import HtmxHttpRequest
from whatsapp_crm.roles import Role, role_required
from whatsapp_crm.tenancy import organization_required
from whatsapp_crm.ui import Level, toast

QueueStatus = ScheduledWhatsAppMessage.Status
QUEUE_PAGE_SIZE = 200


def _form_context() -> dict[str, Any]:
    return {
        "now_local": timezone.localtime().strftime(forms.DATETIME_LOCAL),
        "timezone_name": timezone.get_current_timezone_name(),
        "limits": forms.TEXT_LIMITS,
    }


def _submitted(post: QueryDict, names: list[str]) -> dict[str, Any]:
    """What the user typed, to show the form again after an error."""
    return {name: post.get(name, "") for name in names}


# --- campaigns ---------------------------------------------------------------------------------


@require_GET
@organization_required
def campaigns_page(request: HtmxHttpRequest) -> HttpResponse:
    campaigns = selectors.campaign_list(organization=request.organization)[:200]
    return render(request, "campaigns_app/campaigns_page.html", {"campaigns": campaigns})


def _new_campaign_context(
    request: HtmxHttpRequest, *, data: dict[str, Any], errors: list[str] | None = None
) -> dict[str, Any]:
    sessions = selectors.session_choices(organization=request.organization)
    picked = str(data.get("session") or "")
    session = next((s for s in sessions if str(s.pk) == picked), None)
    if session is None:
        connected = [s for s in sessions if s.status == WhatsAppSession.Status.CONNECTED]
        session = connected[0] if connected else None
    picker = (
        selectors.campaign_group_choices(organization=request.organization, session=session)
        if session
        else {"groups": [], "community_parents": []}
    )
    return {
        "sessions": sessions,
        "session": session,
        "data": data,
        "selected": set(data.get("group_ids", [])),
        "errors": errors or [],
        **_form_context(),
        **picker,
    }


@require_http_methods(["GET", "POST"])
@organization_required
def campaign_new(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "GET":
        context = _new_campaign_context(request, data={"session": request.GET.get("session")})
        return render(request, "campaigns_app/campaign_new_page.html", context)

    form = forms.CampaignForm(request.POST, organization=request.organization)
    if form.is_valid():
        data = form.cleaned_data
        try:
            campaign = services.campaign_create(
                organization=request.organization,
                session=data["session"],
                name=data["name"],
                message=data["message"],
                group_ids=data["group_ids"],
                scheduled_for=data["send_at"],
                created_by=request.user,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request, f"Campaign “{campaign.name}” created: {campaign.total_groups} groups."
            )
            return redirect("campaigns:detail", pk=campaign.pk)
    typed = _submitted(request.POST, ["session", "name", "message", "when", "scheduled_for"])
    typed["group_ids"] = request.POST.getlist("group_ids")
    context = _new_campaign_context(request, data=typed, errors=forms.error_messages(form))
    return render(request, "campaigns_app/campaign_new_page.html", context, status=400)


@require_GET
@organization_required
def campaign_group_picker(request: HtmxHttpRequest) -> HttpResponse:
    """The group checkboxes for the session picked in the new-campaign form (htmx)."""
    context = _new_campaign_context(request, data={"session": request.GET.get("session")})
    return render(request, "campaigns_app/_campaign_group_picker.html", context)


def _progress_context(campaign: NotificationCampaign) -> dict[str, Any]:
    groups = list(selectors.campaign_groups(campaign=campaign))
    return {
        "campaign": campaign,
        "groups": groups,
        "watching_late_errors": selectors.campaign_watches_late_errors(
            campaign=campaign, groups=groups
        ),
    }


@require_GET
@organization_required
def campaign_detail(request: HtmxHttpRequest, pk: Any) -> HttpResponse:
    campaign = selectors.campaign_get(organization=request.organization, pk=pk)
    return render(request, "campaigns_app/campaign_detail_page.html", _progress_context(campaign))


@require_GET
@organization_required
def campaign_progress(request: HtmxHttpRequest, pk: Any) -> HttpResponse:
    """Polled every second while the campaign is not final, then every 3 s while late WhatsApp
    errors may still arrive; the answer after that has no trigger, so polling stops."""
    campaign = selectors.campaign_get(organization=request.organization, pk=pk)
    return render(request, "campaigns_app/_campaign_progress.html", _progress_context(campaign))


def _campaign_answer(
    request: HtmxHttpRequest, campaign: NotificationCampaign, text: str, level: Level
) -> HttpResponse:
    """The progress partial with a toast (htmx), or the campaign page with a message."""
    campaign.refresh_from_db()
    if request.htmx:
        response = render(
            request, "campaigns_app/_campaign_progress.html", _progress_context(campaign)
        )
        return toast(response, text, level)
    {"error": messages.error, "info": messages.info}.get(level, messages.success)(request, text)
    return redirect("campaigns:detail", pk=campaign.pk)


@require_POST
@role_required(Role.ADMIN)
def campaign_retry_failed(request: HtmxHttpRequest, pk: Any) -> HttpResponse:
    campaign = selectors.campaign_get(organization=request.organization, pk=pk)
    queued = services.campaign_retry_failed(campaign=campaign)
    if not queued:
        return _campaign_answer(request, campaign, "No failed groups to retry.", "info")
    text = f"{queued} failed group{'s' if queued != 1 else ''} queued again"
    if campaign.scheduled_for > timezone.now():
        text += (
            f" for {timezone.localtime(campaign.scheduled_for):%Y-%m-%d %H:%M}, the campaign's time"
        )
    return _campaign_answer(request, campaign, text + ".", "success")


@require_POST
@role_required(Role.ADMIN)
def campaign_cancel(request: HtmxHttpRequest, pk: Any) -> HttpResponse:
    campaign = selectors.campaign_get(organization=request.organization, pk=pk)
    try:
        result = services.campaign_cancel(campaign=campaign)
    except ApplicationError as exc:
        return _campaign_answer(request, campaign, exc.message, "error")
    return _campaign_answer(
        request, campaign, result.message, "success" if result.cancelled else "info"
    )


# --- queue -------------------------------------------------------------------------------------


def _status_filter(request: HtmxHttpRequest) -> str:
    status = request.GET.get("status") or request.POST.get("status_filter") or ""
    return status if status in QueueStatus.values else ""


def _queue_context(request: HtmxHttpRequest, *, swap_outages: bool = True) -> dict[str, Any]:
    """The table, and the outage banner (swapped out of band by the table's htmx answers)."""
    status = _status_filter(request)
    rows = list(
        selectors.scheduled_message_list(organization=request.organization, status=status or None)[
            :QUEUE_PAGE_SIZE
        ]
    )
    counts = selectors.queue_status_counts(organization=request.organization)
    late_errors = selectors.queue_late_errors(rows=rows)
    table = []
    for row in rows:
        late_error = late_errors[row.id].text if row.id in late_errors else ""
        table.append((row, row_buttons(row.status, late_error=late_error), late_error))
    return {
        "rows": rows,
        "table": table,
        "outages": selectors.queue_outages(organization=request.organization),
        "swap_outages": swap_outages,
        "status": status,
        "statuses": [(value, label, counts[value]) for value, label in QueueStatus.choices],
        "polling": selectors.queue_is_active(rows=rows),
        "page_size": QUEUE_PAGE_SIZE,
    }


def _queue_page_context(
    request: HtmxHttpRequest, *, data: dict[str, Any], errors: list[str] | None = None
) -> dict[str, Any]:
    return {
        **_queue_context(request, swap_outages=False),
        **_form_context(),
        "sessions": selectors.session_choices(organization=request.organization),
        "data": data,
        "errors": errors or [],
    }


@require_GET
@organization_required
def queue_page(request: HtmxHttpRequest) -> HttpResponse:
    context = _queue_page_context(request, data={})
    return render(request, "campaigns_app/queue_page.html", context)


@require_GET
@organization_required
def queue_table(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "campaigns_app/_queue_table.html", _queue_context(request))


@require_POST
@organization_required
def queue_create(request: HtmxHttpRequest) -> HttpResponse:
    form = forms.QueueMessageForm(request.POST, organization=request.organization)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.scheduled_message_create(
                organization=request.organization,
                session=data["session"],
                recipient_jid=data["recipient_jid"],
                message=data["message"],
                scheduled_for=data["send_at"],
                created_by=request.user,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Message queued.")
            if request.htmx:
                return HttpResponseClientRedirect(reverse("campaigns:queue"))
            return redirect("campaigns:queue")
    errors = forms.error_messages(form)
    if request.htmx:
        return toast(HttpResponse(status=400), " ".join(errors), "error")
    typed = _submitted(
        request.POST, ["session", "recipient_jid", "message", "when", "scheduled_for"]
    )
    context = _queue_page_context(request, data=typed, errors=errors)
    return render(request, "campaigns_app/queue_page.html", context, status=400)


@require_POST
@role_required(Role.ADMIN)
def queue_action(request: HtmxHttpRequest, pk: Any, action: str) -> HttpResponse:
    row_action = row_action_get(action)
    if row_action is None:
        raise Http404("Unknown action.")
    row = selectors.scheduled_message_get(organization=request.organization, pk=pk)
    text = row_action.done
    level: Level = "success"
    try:
        row_action.run(row, request.POST.get("confirm") == "1")
    except ApplicationError as exc:
        text, level = exc.message, "error"
    if request.htmx:
        response = render(request, "campaigns_app/_queue_table.html", _queue_context(request))
        return toast(response, text, level)
    (messages.success if level == "success" else messages.error)(request, text)
    status = _status_filter(request)
    url = reverse("campaigns:queue") + (f"?status={status}" if status else "")
    return redirect(url)
