"""Pages: campaigns (list, new, detail with live progress) and the queue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from campaigns_app import selectors, services
from campaigns_app.models import NotificationCampaign, ScheduledWhatsAppMessage
from sessions_app.models import WhatsAppSession
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.tenancy import organization_required
from whatsapp_crm.ui import toast

Msg = ScheduledWhatsAppMessage
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
QUEUE_PAGE_SIZE = 200


def _parse_when(value: str | None) -> datetime | None:
    """A `datetime-local` value in the app's time zone; empty means now."""
    value = (value or "").strip()
    if not value:
        return None
    for fmt in (DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S"):
        try:
            naive = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return timezone.make_aware(naive, timezone.get_current_timezone())
    raise ApplicationError("The date and time are not valid.", details={"scheduled_for": value})


def _session_or_none(request: HttpRequest, session_id: str | None) -> WhatsAppSession | None:
    if not session_id:
        return None
    try:
        return WhatsAppSession.objects.filter(
            id=session_id, organization=request.organization
        ).first()
    except (ValueError, forms.ValidationError):
        return None


# --- campaigns ---------------------------------------------------------------------------------


@require_GET
@organization_required
def campaigns_page(request: HttpRequest) -> HttpResponse:
    campaigns = selectors.campaign_list(organization=request.organization)[:200]
    return render(request, "campaigns_app/campaigns_page.html", {"campaigns": campaigns})


def _new_campaign_context(
    request: HttpRequest, *, data: dict[str, Any], error: ApplicationError | None = None
) -> dict[str, Any]:
    sessions = selectors.session_choices(organization=request.organization)
    session = _session_or_none(request, data.get("session"))
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
        "error": error,
        "now_local": timezone.localtime().strftime(DATETIME_LOCAL),
        "timezone_name": timezone.get_current_timezone_name(),
        **picker,
    }


@require_http_methods(["GET", "POST"])
@organization_required
def campaign_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        context = _new_campaign_context(request, data={"session": request.GET.get("session")})
        return render(request, "campaigns_app/campaign_new_page.html", context)

    data = {
        "session": request.POST.get("session", ""),
        "name": request.POST.get("name", ""),
        "message": request.POST.get("message", ""),
        "group_ids": request.POST.getlist("group_ids"),
        "when": request.POST.get("when", "now"),
        "scheduled_for": request.POST.get("scheduled_for", ""),
    }
    try:
        session = _session_or_none(request, data["session"])
        if session is None:
            raise ApplicationError("Pick a WhatsApp session.", details={"session": "required"})
        when = _parse_when(data["scheduled_for"]) if data["when"] == "later" else None
        if data["when"] == "later" and when is None:
            raise ApplicationError("Pick the date and time to send at.", details={})
        campaign = services.campaign_create(
            organization=request.organization,
            session=session,
            name=data["name"],
            message=data["message"],
            group_ids=data["group_ids"],
            scheduled_for=when,
            created_by=request.user,
        )
    except ApplicationError as exc:
        context = _new_campaign_context(request, data=data, error=exc)
        return render(request, "campaigns_app/campaign_new_page.html", context, status=400)
    messages.success(
        request, f"Campaign “{campaign.name}” created: {campaign.total_groups} groups."
    )
    return redirect("campaigns:detail", pk=campaign.pk)


@require_GET
@organization_required
def campaign_group_picker(request: HttpRequest) -> HttpResponse:
    """The group checkboxes for the session picked in the new-campaign form (htmx)."""
    context = _new_campaign_context(request, data={"session": request.GET.get("session")})
    return render(request, "campaigns_app/_campaign_group_picker.html", context)


def _campaign_for(request: HttpRequest, pk: Any) -> NotificationCampaign:
    return get_object_or_404(
        NotificationCampaign.objects.select_related("session"),
        pk=pk,
        organization=request.organization,
    )


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
def campaign_detail(request: HttpRequest, pk: Any) -> HttpResponse:
    campaign = _campaign_for(request, pk)
    return render(request, "campaigns_app/campaign_detail_page.html", _progress_context(campaign))


@require_GET
@organization_required
def campaign_progress(request: HttpRequest, pk: Any) -> HttpResponse:
    """Polled every second while the campaign is not final, then every 3 s while late WhatsApp
    errors may still arrive; the answer after that has no trigger, so polling stops."""
    campaign = _campaign_for(request, pk)
    return render(request, "campaigns_app/_campaign_progress.html", _progress_context(campaign))


@require_POST
@organization_required
def campaign_retry_failed(request: HttpRequest, pk: Any) -> HttpResponse:
    campaign = _campaign_for(request, pk)
    queued = services.campaign_retry_failed(campaign=campaign)
    campaign.refresh_from_db()
    text = (
        f"{queued} failed group{'s' if queued != 1 else ''} queued again."
        if queued
        else "No failed groups to retry."
    )
    if request.htmx:
        response = render(
            request, "campaigns_app/_campaign_progress.html", _progress_context(campaign)
        )
        return toast(response, text, "success" if queued else "info")
    messages.success(request, text)
    return redirect("campaigns:detail", pk=campaign.pk)


# --- queue -------------------------------------------------------------------------------------


def _status_filter(request: HttpRequest) -> str:
    status = request.GET.get("status") or request.POST.get("status_filter") or ""
    return status if status in Msg.Status.values else ""


def _queue_context(request: HttpRequest) -> dict[str, Any]:
    status = _status_filter(request)
    rows = list(
        selectors.scheduled_message_list(organization=request.organization, status=status or None)[
            :QUEUE_PAGE_SIZE
        ]
    )
    counts = selectors.queue_status_counts(organization=request.organization)
    return {
        "rows": rows,
        "status": status,
        "statuses": [(value, label, counts[value]) for value, label in Msg.Status.choices],
        "polling": selectors.queue_is_active(rows=rows),
        "page_size": QUEUE_PAGE_SIZE,
    }


@require_GET
@organization_required
def queue_page(request: HttpRequest) -> HttpResponse:
    context = _queue_context(request)
    context.update(
        {
            "sessions": selectors.session_choices(organization=request.organization),
            "now_local": timezone.localtime().strftime(DATETIME_LOCAL),
            "timezone_name": timezone.get_current_timezone_name(),
            "data": {},
        }
    )
    return render(request, "campaigns_app/queue_page.html", context)


@require_GET
@organization_required
def queue_table(request: HttpRequest) -> HttpResponse:
    return render(request, "campaigns_app/_queue_table.html", _queue_context(request))


@require_POST
@organization_required
def queue_create(request: HttpRequest) -> HttpResponse:
    data = {
        "session": request.POST.get("session", ""),
        "recipient_jid": request.POST.get("recipient_jid", ""),
        "message": request.POST.get("message", ""),
        "when": request.POST.get("when", "now"),
        "scheduled_for": request.POST.get("scheduled_for", ""),
    }
    try:
        session = _session_or_none(request, data["session"])
        if session is None:
            raise ApplicationError("Pick a WhatsApp session.", details={"session": "required"})
        when = _parse_when(data["scheduled_for"]) if data["when"] == "later" else None
        services.scheduled_message_create(
            organization=request.organization,
            session=session,
            recipient_jid=data["recipient_jid"],
            message=data["message"],
            scheduled_for=when,
            created_by=request.user,
        )
    except ApplicationError as exc:
        if request.htmx:
            response = HttpResponse(status=204)
            return toast(response, exc.message, "error")
        context = _queue_context(request)
        context.update(
            {
                "sessions": selectors.session_choices(organization=request.organization),
                "now_local": timezone.localtime().strftime(DATETIME_LOCAL),
                "timezone_name": timezone.get_current_timezone_name(),
                "data": data,
                "form_error": exc,
            }
        )
        return render(request, "campaigns_app/queue_page.html", context, status=400)
    messages.success(request, "Message queued.")
    if request.htmx:
        return HttpResponseClientRedirect(reverse("campaigns:queue"))
    return redirect("campaigns:queue")


QUEUE_ACTIONS = {
    "cancel": ("Message cancelled.", lambda row: services.scheduled_message_cancel(message=row)),
    "retry": (
        "Message queued to be sent now.",
        lambda row: services.scheduled_message_retry_now(message=row),
    ),
    "mark-sent": (
        "Marked as sent.",
        lambda row: services.scheduled_message_resolve(message=row, sent=True),
    ),
    "mark-failed": (
        "Marked as failed.",
        lambda row: services.scheduled_message_resolve(message=row, sent=False),
    ),
}


@require_POST
@organization_required
def queue_action(request: HttpRequest, pk: Any, action: str) -> HttpResponse:
    if action not in QUEUE_ACTIONS:
        raise Http404("Unknown action.")
    row = get_object_or_404(Msg, pk=pk, organization=request.organization)
    text, run = QUEUE_ACTIONS[action]
    level = "success"
    try:
        run(row)
    except ApplicationError as exc:
        text, level = exc.message, "error"
    if request.htmx:
        response = render(request, "campaigns_app/_queue_table.html", _queue_context(request))
        return toast(response, text, level)  # type: ignore[arg-type]
    (messages.success if level == "success" else messages.error)(request, text)
    status = _status_filter(request)
    url = reverse("campaigns:queue") + (f"?status={status}" if status else "")
    return redirect(url)
