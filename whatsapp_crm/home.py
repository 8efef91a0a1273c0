"""The start page: what needs attention, in one place, each number linking to where it is fixed.

Per session health, sends today (sent / failed / needs review), campaigns in progress, the member
cache's staleness; the stalled-sends banner comes from the base layout (health.py). Each part
polls its own small partial with the version it shows (`?v=`): the answer is 204 with no body
while nothing changed, so an open page stays true for a few hundred bytes a poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from artists_app.selectors import cache_health
from campaigns_app.models import NotificationCampaign, ScheduledWhatsAppMessage
from campaigns_app.selectors import queue_day_bounds, queue_on_day, queue_outages
from sessions_app.models import WhatsAppSession
from sessions_app.selectors import fingerprint, session_current_list
from whatsapp_crm.htmx import HtmxHttpRequest
from whatsapp_crm.models import Organization
from whatsapp_crm.tenancy import organization_required
from whatsapp_crm.ui import ago as ago_text

QueueStatus = ScheduledWhatsAppMessage.Status
CampaignStatus = NotificationCampaign.Status


@dataclass(frozen=True)
class SendsToday:
    day: date
    since: datetime
    sent: int
    failed: int
    needs_review: int
    waiting: int
    sending: int


def sends_today(*, organization: Organization, now: datetime | None = None) -> SendsToday:
    """Rows sent or failed since local midnight (`queue_on_day`, as the queue's `?day=` filter);
    rows needing review or waiting, of any age. One query."""
    day = timezone.localtime(now or timezone.now()).date()
    today = queue_on_day(day)
    rows = ScheduledWhatsAppMessage.objects.filter(organization=organization)
    counts = rows.aggregate(
        sent=Count("id", filter=Q(status=QueueStatus.SENT) & today),
        failed=Count("id", filter=Q(status=QueueStatus.FAILED) & today),
        needs_review=Count("id", filter=Q(status=QueueStatus.NEEDS_REVIEW)),
        waiting=Count("id", filter=Q(status=QueueStatus.PENDING)),
        sending=Count("id", filter=Q(status=QueueStatus.SENDING)),
    )
    return SendsToday(day=day, since=queue_day_bounds(day)[0], **counts)


def campaigns_in_progress(*, organization: Organization) -> list[NotificationCampaign]:
    return list(
        NotificationCampaign.objects.filter(
            organization=organization,
            status__in=[CampaignStatus.SCHEDULED, CampaignStatus.SENDING],
        )
        .select_related("session")
        .order_by("scheduled_for")[:10]
    )


def _sessions_context(organization: Organization) -> dict[str, Any]:
    """The sessions, each with its gateway outage if any (a stored "connected" session whose
    gateway stops answering is not shown as plainly connected), the ones that cannot send, and
    their version for the poll."""
    sessions = list(session_current_list(organization=organization))
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
    # As sessions_app.selectors.session_down_list: holding a number, not connected.
    down = [s for s in sessions if s.status != WhatsAppSession.Status.CONNECTED and s.phone_number]
    return {"sessions": sessions, "down": down, "sessions_version": version}


def _activity_context(organization: Organization) -> dict[str, Any]:
    """Sends today and the campaigns in progress (two queries), and their version: the numbers
    themselves, so a poll answers 204 exactly when the page would show the same."""
    sends = sends_today(organization=organization)
    campaigns = campaigns_in_progress(organization=organization)
    version = fingerprint(
        sends,
        [
            (c.pk, c.name, c.status, c.total_groups, c.sent_count, c.failed_count)
            + (c.scheduled_for, c.session.name, c.session.session_id)
            for c in campaigns
        ],
    )
    return {"sends": sends, "campaigns": campaigns, "activity_version": version}


def _cache_context(organization: Organization) -> dict[str, Any]:
    """The member cache's staleness (4 queries); its version includes the newest sync as the
    page words it ("3 minutes ago"), so the part is redrawn when that text would change."""
    cache = cache_health(organization=organization)
    return {"cache": cache, "cache_version": fingerprint(cache, ago_text(cache["newest_sync"]))}


def _poll_answer(
    request: HtmxHttpRequest, template: str, context: dict[str, Any], version: str
) -> HttpResponse:
    """204 with no body while the part is as the page shows it (`?v=`), else the part."""
    if request.GET.get("v") == context[version]:
        return HttpResponse(status=204)
    return render(request, template, context)


@require_GET
@organization_required
def home_page(request: HtmxHttpRequest) -> HttpResponse:
    organization = request.organization
    context: dict[str, Any] = {
        **_sessions_context(organization),
        **_activity_context(organization),
        **_cache_context(organization),
    }
    return render(request, "whatsapp_crm/home_page.html", context)


@require_GET
@organization_required
def home_sessions(request: HtmxHttpRequest) -> HttpResponse:
    """The session health list, polled by the start page every 5 s (a few hundred bytes when
    it changed)."""
    context = _sessions_context(request.organization)
    return _poll_answer(request, "whatsapp_crm/_home_sessions.html", context, "sessions_version")


@require_GET
@organization_required
def home_activity(request: HtmxHttpRequest) -> HttpResponse:
    """Sends today and campaigns in progress, polled every 5 s."""
    context = _activity_context(request.organization)
    return _poll_answer(request, "whatsapp_crm/_home_activity.html", context, "activity_version")


@require_GET
@organization_required
def home_cache(request: HtmxHttpRequest) -> HttpResponse:
    """The member cache's staleness, polled every 30 s (it changes by the hour)."""
    context = _cache_context(request.organization)
    return _poll_answer(request, "whatsapp_crm/_home_cache.html", context, "cache_version")
