"""Reads for the campaigns and queue pages and APIs (always scoped to one organization)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet, Subquery
from django.shortcuts import get_object_or_404
from django.utils import timezone

from campaigns_app.models import (
    NotificationCampaign,
    NotificationCampaignGroup,
    QueueSessionState,
    ScheduledWhatsAppMessage,
)
from campaigns_app.queue.errors import LateError, late_errors_for
from groups_app.models import WhatsAppGroup
from groups_app.selectors import group_list
from sessions_app.models import WhatsAppSession
from sessions_app.selectors import session_current_list
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


def queue_day_bounds(day: date) -> tuple[datetime, datetime]:
    """Local midnight of `day` and of the next day, in the current (the organization's) zone."""
    zone = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(day, time.min), zone)
    return start, timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min), zone)


def queue_on_day(day: date) -> Q:
    """Rows whose outcome fell on `day`: sent ones by their send time, the others by their last
    change (a row turns failed or cancelled when it is written). The start page's "sent today" /
    "failed today" and the queue's `?day=` filter both use this, so the numbers match."""
    start, end = queue_day_bounds(day)
    return Q(status=QueueStatus.SENT, sent_at__gte=start, sent_at__lt=end) | (
        ~Q(status=QueueStatus.SENT) & Q(updated_at__gte=start, updated_at__lt=end)
    )


def queue_status_counts(*, organization: Organization, day: date | None = None) -> dict[str, int]:
    counts = {value: 0 for value, _ in QueueStatus.choices}
    rows = ScheduledWhatsAppMessage.objects.filter(organization=organization)
    if day is not None:
        rows = rows.filter(queue_on_day(day))
    for row in rows.values("status").annotate(n=Count("id")).order_by():
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
    """The sessions a form offers: the current ones (sessions_app's rule: connected, connecting,
    or holding a number). A logged-out or superseded session can never send again, so its
    messages would wait forever."""
    return list(session_current_list(organization=organization).order_by("name", "created_at"))


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


# --- forms that help (issue 14) -----------------------------------------------------------------


def plural(count: int, noun: str) -> str:
    """ "1 group", "2 groups"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def duration_text(seconds: float) -> str:
    """ "15 s", "2 min 30 s", "1 h 5 min" (static/campaigns_app/forms.js says it the same way)."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h" + (f" {minutes} min" if minutes else "")


def send_rate_per_minute() -> int:
    """The queue's pace per session (QUEUE_SESSION_RATE_PER_MINUTE, queue/claim.py); 0 = none."""
    return max(int(settings.QUEUE_SESSION_RATE_PER_MINUTE), 0)


def send_time_estimate(*, groups: int) -> str:
    """How long sending to `groups` groups takes at the session's pace: "5 groups at 20/min ≈
    15 s". One send slot per group (60 / rate seconds each), as the queue hands them out."""
    rate = send_rate_per_minute()
    if not rate:
        return f"{plural(groups, 'group')}, no rate limit"
    return f"{plural(groups, 'group')} at {rate}/min ≈ {duration_text(groups * 60 / rate)}"


def campaign_duplicate_data(*, organization: Organization, pk: Any) -> dict[str, Any] | None:
    """The new-campaign form's values copied from an earlier campaign ("Duplicate"): its
    session, name, message and the groups it went to that can still receive messages."""
    campaign = campaign_list(organization=organization).filter(pk=_uuid_or_none(pk)).first()
    if campaign is None:
        return None
    sendable = set(
        sendable_groups(organization=organization, session=campaign.session).values_list(
            "id", flat=True
        )
    )
    group_ids = [
        str(group_id)
        for group_id in campaign.groups.values_list("group_id", flat=True)
        if group_id in sendable
    ]
    return {
        "session": str(campaign.session_id),
        "name": campaign.name,
        "message": campaign.message,
        "group_ids": group_ids,
        "duplicate_of": campaign,
        "dropped_groups": campaign.total_groups - len(group_ids),
    }


def _uuid_or_none(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# --- the queue page: a page of rows, search, and a cheap poll ----------------------------------

QUEUE_PER_PAGE_CHOICES = (25, 50)


@dataclass(frozen=True)
class QueueFilters:
    status: str = ""
    q: str = ""
    page: int = 1
    per_page: int = QUEUE_PER_PAGE_CHOICES[0]
    day: date | None = None


def _recipient_name() -> Subquery:
    """The stored group name of the row's recipient on its session (unique (session, jid))."""
    return Subquery(
        WhatsAppGroup.objects.filter(
            session_id=OuterRef("session_id"), group_jid=OuterRef("recipient_jid")
        ).values("group_name")[:1]
    )


def queue_search(
    *, organization: Organization, status: str = "", q: str = "", day: date | None = None
) -> QuerySet[ScheduledWhatsAppMessage]:
    """Queue rows, newest first, with `recipient_name`; `q` matches the message text, the
    recipient's group name (or JID) and the campaign's name, case-insensitively; `day` keeps
    the rows whose outcome fell on that day (`queue_on_day`)."""
    qs = scheduled_message_list(organization=organization, status=status or None).annotate(
        recipient_name=_recipient_name()
    )
    if day is not None:
        qs = qs.filter(queue_on_day(day))
    q = q.strip()
    if q:
        named = WhatsAppGroup.objects.filter(
            session_id=OuterRef("session_id"),
            group_jid=OuterRef("recipient_jid"),
            group_name__icontains=q,
        )
        qs = qs.filter(
            Q(message__icontains=q)
            | Q(recipient_jid__icontains=q)
            | Q(campaign_group__campaign__name__icontains=q)
            | Exists(named)
        )
    return qs


def queue_page(*, organization: Organization, filters: QueueFilters) -> Page:
    """One page of `queue_search` (a page number past the end gives the last page)."""
    paginator = Paginator(
        queue_search(
            organization=organization, status=filters.status, q=filters.q, day=filters.day
        ),
        filters.per_page,
    )
    return paginator.get_page(filters.page)


def queue_fingerprint(*, organization: Organization) -> str:
    """A short token that changes whenever the organization's queue does: a row added, any row
    write (every queue write sets updated_at), a gateway outage starting or ending. The queue
    page polls it (2 queries, an answer of no body) and reloads its table only when it moved."""
    rows = ScheduledWhatsAppMessage.objects.filter(organization=organization).aggregate(
        n=Count("id"), last=Max("updated_at")
    )
    outages = QueueSessionState.objects.filter(
        session__organization=organization, unreachable_since__isnull=False
    ).aggregate(n=Count("session_id"), since=Max("unreachable_since"))
    raw = f"{rows['n']}|{rows['last']}|{outages['n']}|{outages['since']}"
    return hashlib.sha1(raw.encode()).hexdigest()[:16]


# Receipts (reads above all) keep arriving after the last send; the campaign page keeps polling
# for them this long after it, then stops (a reload shows later ones).
RECEIPT_WATCH_SECONDS = 15 * 60


def campaign_watches_receipts(*, campaign: NotificationCampaign, groups: list) -> bool:
    """A finished campaign whose last send is recent: delivery receipts may still arrive."""
    if not campaign.is_final:
        return False
    recent = timezone.now().timestamp() - RECEIPT_WATCH_SECONDS
    return any(g.sent_at and g.sent_at.timestamp() > recent for g in groups)


def campaign_group_members(*, groups: list) -> dict[Any, int]:
    """Members of each campaign group's WhatsApp group (as last synced), by campaign group id."""
    counts = dict(
        WhatsAppGroup.objects.filter(id__in={g.group_id for g in groups if g.group_id}).values_list(
            "id", "participant_count"
        )
    )
    return {g.id: counts[g.group_id] for g in groups if counts.get(g.group_id)}
