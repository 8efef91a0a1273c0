"""The start page: what needs attention, in one place, each number linking to where it is fixed.

Per session health, sends today (sent / failed / needs review), campaigns in progress, the member
cache's staleness; the stalled-sends banner comes from the base layout (health.py). The session
cards poll a small partial so the page stays true while open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from artists_app.selectors import cache_health
from campaigns_app.models import NotificationCampaign, ScheduledWhatsAppMessage
from campaigns_app.selectors import queue_outages
from sessions_app.models import WhatsAppSession
from sessions_app.selectors import fingerprint, session_current_list, session_down_list
from whatsapp_crm.htmx import HtmxHttpRequest
from whatsapp_crm.models import Organization
from whatsapp_crm.tenancy import organization_required

QueueStatus = ScheduledWhatsAppMessage.Status
CampaignStatus = NotificationCampaign.Status


@dataclass(frozen=True)
class SendsToday:
    since: datetime
    sent: int
    failed: int
    needs_review: int
    waiting: int


def sends_today(*, organization: Organization, now: datetime | None = None) -> SendsToday:
    """Rows sent or failed since local midnight; rows needing review or waiting, of any age."""
    now = now or timezone.now()
    midnight = timezone.make_aware(
        datetime.combine(timezone.localtime(now).date(), time.min), timezone.get_current_timezone()
    )
    rows = ScheduledWhatsAppMessage.objects.filter(organization=organization)
    counts = rows.aggregate(
        sent=Count("id", filter=Q(status=QueueStatus.SENT, sent_at__gte=midnight)),
        failed=Count("id", filter=Q(status=QueueStatus.FAILED, updated_at__gte=midnight)),
        needs_review=Count("id", filter=Q(status=QueueStatus.NEEDS_REVIEW)),
        waiting=Count("id", filter=Q(status__in=[QueueStatus.PENDING, QueueStatus.SENDING])),
    )
    return SendsToday(since=midnight, **counts)


def campaigns_in_progress(*, organization: Organization) -> list[NotificationCampaign]:
    return list(
        NotificationCampaign.objects.filter(
            organization=organization,
            status__in=[CampaignStatus.SCHEDULED, CampaignStatus.SENDING],
        )
        .select_related("session")
        .order_by("scheduled_for")[:10]
    )


def _sessions(organization: Organization) -> list[WhatsAppSession]:
    return list(session_current_list(organization=organization))


def _sessions_context(organization: Organization) -> dict[str, Any]:
    """The sessions, each with its gateway outage if any (a stored "connected" session whose
    gateway stops answering is not shown as plainly connected), and their version for the poll."""
    sessions = _sessions(organization)
    outages = {item["session"].pk: item for item in queue_outages(organization=organization)}
    for session in sessions:
        session.outage = outages.get(session.pk)  # type: ignore[attr-defined]
    version = fingerprint(
        [
            (s.pk, s.status, s.name, s.phone_number, s.last_error, s.last_error_at)
            + ((outages[s.pk]["since"], outages[s.pk]["waiting"]) if s.pk in outages else ())
            for s in sessions
        ]
    )
    return {"sessions": sessions, "sessions_version": version}


@require_GET
@organization_required
def home_page(request: HtmxHttpRequest) -> HttpResponse:
    organization = request.organization
    context: dict[str, Any] = _sessions_context(organization)
    context |= {
        "down": session_down_list(organization=organization),
        "sends": sends_today(organization=organization),
        "campaigns": campaigns_in_progress(organization=organization),
        "cache": cache_health(organization=organization),
    }
    return render(request, "whatsapp_crm/home_page.html", context)


@require_GET
@organization_required
def home_sessions(request: HtmxHttpRequest) -> HttpResponse:
    """The session health list alone, polled by the start page: 204 with no body while it is as
    the page shows it (`v`), else the list (a few hundred bytes)."""
    context = _sessions_context(request.organization)
    if request.GET.get("v") == context["sessions_version"]:
        return HttpResponse(status=204)
    return render(request, "whatsapp_crm/_home_sessions.html", context)
