"""Reads for the campaigns and queue pages and APIs (always scoped to one organization)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from campaigns_app.models import (
    NotificationCampaign,
    NotificationCampaignGroup,
    ScheduledWhatsAppMessage,
)
from campaigns_app.queue.errors import LateError, late_errors_for
from groups_app.models import WhatsAppGroup
from groups_app.selectors import group_list
from sessions_app.models import WhatsAppSession
from whatsapp_crm.models import Organization

QueueStatus = ScheduledWhatsAppMessage.Status

# While a row is this young after its send, a late WhatsApp error (420) may still turn it failed.
LATE_ERROR_WINDOW_SECONDS = 30


def campaign_list(*, organization: Organization) -> QuerySet[NotificationCampaign]:
    return NotificationCampaign.objects.filter(organization=organization).select_related("session")


def campaign_get(*, organization: Organization, pk: Any) -> NotificationCampaign:
    """One campaign of the organization; another organization's id is a 404."""
    return get_object_or_404(campaign_list(organization=organization), pk=pk)


def campaign_groups(*, campaign: NotificationCampaign) -> QuerySet[NotificationCampaignGroup]:
    """Group rows with their queue row (retry count, next attempt, queue status)."""
    return campaign.groups.select_related("scheduled_message").order_by("group_name", "group_jid")


def scheduled_message_list(
    *, organization: Organization, status: str | None = None
) -> QuerySet[ScheduledWhatsAppMessage]:
    qs = ScheduledWhatsAppMessage.objects.filter(organization=organization).select_related(
        "session", "campaign_group__campaign"
    )
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at")


def scheduled_message_get(*, organization: Organization, pk: Any) -> ScheduledWhatsAppMessage:
    """One queue row of the organization; another organization's id is a 404."""
    return get_object_or_404(
        ScheduledWhatsAppMessage.objects.filter(organization=organization), pk=pk
    )


def queue_status_counts(*, organization: Organization) -> dict[str, int]:
    counts = {value: 0 for value, _ in QueueStatus.choices}
    for row in (
        ScheduledWhatsAppMessage.objects.filter(organization=organization)
        .values("status")
        .annotate(n=Count("id"))
        .order_by()
    ):
        counts[row["status"]] = row["n"]
    return counts


def queue_is_active(*, rows: list[ScheduledWhatsAppMessage]) -> bool:
    """Whether a page showing `rows` should keep polling (work in flight, or late errors due)."""
    recent = timezone.now().timestamp() - LATE_ERROR_WINDOW_SECONDS
    return any(
        row.status in (QueueStatus.PENDING, QueueStatus.SENDING)
        or (row.status == QueueStatus.SENT and row.sent_at and row.sent_at.timestamp() > recent)
        for row in rows
    )


def session_choices(*, organization: Organization) -> list[WhatsAppSession]:
    return list(
        WhatsAppSession.objects.filter(organization=organization).order_by("name", "created_at")
    )


def sendable_groups(*, organization: Organization, session: WhatsAppSession) -> Any:
    """Groups a campaign may target: active, and no community parents (groups_app's rule)."""
    return group_list(organization=organization, session=session, sendable_only=True)


def campaign_watches_late_errors(*, campaign: NotificationCampaign, groups: list) -> bool:
    """A finished campaign whose last sends are recent may still get a late WhatsApp error
    (e.g. 420): its page keeps polling a little longer so it shows the change without a reload."""
    if not campaign.is_final:
        return False
    recent = timezone.now().timestamp() - LATE_ERROR_WINDOW_SECONDS
    return any(g.status == "sent" and g.sent_at and g.sent_at.timestamp() > recent for g in groups)


def campaign_group_choices(
    *, organization: Organization, session: WhatsAppSession
) -> dict[str, Any]:
    """Groups a campaign may target, and the community parents shown as impossible to pick."""
    sendable = list(sendable_groups(organization=organization, session=session))
    parents = list(
        WhatsAppGroup.objects.filter(
            organization=organization, session=session, is_community=True, is_active=True
        ).order_by("group_name")
    )
    return {"groups": sendable, "community_parents": parents}


def queue_outages(*, organization: Organization) -> list[dict[str, Any]]:
    """The organization's sessions whose gateway is unreachable, oldest outage first.

    Each item: {"session": WhatsAppSession, "since": when the gateway stopped answering,
    "waiting": pending rows already due (they are held, not failed), "paused_until": the next
    probe}. Empty while the gateway answers. For "Gateway unreachable since 10:02 — N messages
    waiting" on the session card and the queue page (mechanism: campaigns_app/queue/outage.py).
    """
    return _outages(WhatsAppSession.objects.filter(organization=organization))


def session_outage(*, session: WhatsAppSession) -> dict[str, Any] | None:
    """The outage of one session's gateway (an item of `queue_outages`), or None."""
    found = _outages(WhatsAppSession.objects.filter(id=session.id))
    return found[0] if found else None


def _outages(sessions_qs: QuerySet[WhatsAppSession]) -> list[dict[str, Any]]:
    sessions = list(
        sessions_qs.filter(queue_state__unreachable_since__isnull=False)
        .select_related("queue_state")
        .order_by("queue_state__unreachable_since", "name")
    )
    if not sessions:
        return []
    waiting = dict(
        ScheduledWhatsAppMessage.objects.filter(
            session__in=sessions, status=QueueStatus.PENDING, scheduled_for__lte=timezone.now()
        )
        .values("session_id")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("session_id", "n")
    )
    return [
        {
            "session": session,
            "since": session.queue_state.unreachable_since,
            "waiting": waiting.get(session.id, 0),
            "paused_until": session.queue_state.paused_until,
        }
        for session in sessions
    ]


def queue_late_errors(*, rows: list[ScheduledWhatsAppMessage]) -> dict[Any, LateError]:
    """What WhatsApp reported for needs_review rows whose send was never recorded, by row id
    (rules: campaigns_app/queue/errors.py): shown on the row, asked about by "Mark sent"."""
    return late_errors_for(rows=rows)
