"""Scheduled-message actions and campaign writes.

- Scheduled messages: `scheduled_message_create`, `_cancel`, `_retry_now`, `_resolve` (what staff
  do with one queue row). Sending them is the queue's job: `campaigns_app/queue/`.
- Campaigns: `campaign_create` (one queue row per group), `campaign_recount`,
  `campaign_retry_failed`, and `campaign_group_mirror`, which copies a queue row's outcome onto
  its campaign group row and recounts (the queue calls it when it records an answer).

A due row asks for a dispatch right after commit instead of waiting for the next beat tick.
The reasoning behind the queue's rules: docs/reliability.md.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from campaigns_app.models import (
    NotificationCampaign,
    NotificationCampaignGroup,
    QueueSessionState,
    ScheduledWhatsAppMessage,
)
from groups_app.models import WhatsAppGroup
from sessions_app.models import WhatsAppSession
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.models import Organization

logger = logging.getLogger(__name__)

MessageStatus = ScheduledWhatsAppMessage.Status
GroupStatus = NotificationCampaignGroup.Status
CampaignStatus = NotificationCampaign.Status


def _kick_dispatch() -> None:
    """Ask for a dispatch right after commit instead of waiting for the next beat tick."""
    from campaigns_app import tasks  # tasks import the queue, which imports this module

    def send() -> None:
        try:
            tasks.queue_dispatch.delay()
        except Exception:  # noqa: BLE001 — beat dispatches anyway; the row is already committed
            logger.warning("could not queue an immediate dispatch; beat will pick the row up")

    transaction.on_commit(send)


# --- scheduled messages --------------------------------------------------------------------------


def _check_session(*, organization: Organization, session: WhatsAppSession) -> None:
    if session.organization_id != organization.id:
        raise ApplicationError("Unknown session.", details={"session": str(session.id)})


def _clean_jid(jid: str) -> str:
    jid = (jid or "").strip()
    if "@" not in jid or jid.startswith("@") or any(ch.isspace() for ch in jid):
        raise ApplicationError(
            "The recipient must be a WhatsApp JID such as 120363000000000000@g.us.",
            details={"recipient_jid": jid},
        )
    return jid


def scheduled_message_create(
    *,
    organization: Organization,
    session: WhatsAppSession,
    recipient_jid: str,
    message: str,
    scheduled_for: datetime | None = None,
    created_by: Any = None,
) -> ScheduledWhatsAppMessage:
    _check_session(organization=organization, session=session)
    jid = _clean_jid(recipient_jid)
    if not (message or "").strip():
        raise ApplicationError("The message is empty.", details={"message": "required"})
    when = scheduled_for or timezone.now()
    with transaction.atomic():
        row = ScheduledWhatsAppMessage.objects.create(
            organization=organization,
            session=session,
            recipient_jid=jid,
            message=message,
            scheduled_for=when,
            next_attempt_at=when,
            created_by=created_by if getattr(created_by, "pk", None) else None,
        )
        if when <= timezone.now():
            _kick_dispatch()
    return row


def _get_locked(row: ScheduledWhatsAppMessage) -> ScheduledWhatsAppMessage:
    return (
        ScheduledWhatsAppMessage.objects.select_for_update(of=("self",))
        .select_related("campaign_group")
        .get(id=row.id)
    )


def scheduled_message_cancel(*, message: ScheduledWhatsAppMessage) -> ScheduledWhatsAppMessage:
    with transaction.atomic():
        row = _get_locked(message)
        if row.status != MessageStatus.PENDING:
            raise ApplicationError(
                f"Only pending messages can be cancelled; this one is {row.get_status_display()}.",
                details={"status": row.status},
            )
        now = timezone.now()
        row.status = MessageStatus.CANCELLED
        row.error_message = "Cancelled by staff."
        row.updated_at = now
        row.save(update_fields=["status", "error_message", "updated_at"])
        if row.campaign_group_id:
            campaign_group_mirror(
                row=row, status=GroupStatus.FAILED, error_message="Cancelled", now=now
            )
    return row


def _requeue_fields(row: ScheduledWhatsAppMessage, now: datetime) -> None:
    """A deliberate new send of a finished row: fresh clientMessageId, fresh retries."""
    row.status = MessageStatus.PENDING
    row.client_message_id = uuid.uuid4()
    row.retry_count = 0
    row.next_attempt_at = now
    row.error_message = ""
    row.vps_error = ""
    row.message_id = ""
    row.sent_at = None
    row.call_started_at = None
    row.lease_until = None
    row.updated_at = now


_REQUEUE_FIELDS = [
    "status",
    "client_message_id",
    "retry_count",
    "next_attempt_at",
    "error_message",
    "vps_error",
    "message_id",
    "sent_at",
    "call_started_at",
    "lease_until",
    "updated_at",
]


def scheduled_message_retry_now(*, message: ScheduledWhatsAppMessage) -> ScheduledWhatsAppMessage:
    """Pending: try now instead of after the back-off. Failed/cancelled: send again."""
    with transaction.atomic():
        row = _get_locked(message)
        now = timezone.now()
        if row.status == MessageStatus.PENDING:
            row.next_attempt_at = now
            row.updated_at = now
            row.save(update_fields=["next_attempt_at", "updated_at"])
            QueueSessionState.objects.filter(session_id=row.session_id).update(paused_until=None)
        elif row.status in (MessageStatus.FAILED, MessageStatus.CANCELLED):
            _requeue_fields(row, now)
            row.save(update_fields=_REQUEUE_FIELDS)
            if row.campaign_group_id:
                NotificationCampaignGroup.objects.filter(id=row.campaign_group_id).update(
                    status=GroupStatus.PENDING,
                    message_id="",
                    error_message="",
                    sent_at=None,
                    updated_at=now,
                )
                _campaign_recount(campaign_id=row.campaign_group.campaign_id, now=now)
        else:
            raise ApplicationError(
                f"A message that is {row.get_status_display()} cannot be retried."
                + (
                    " Check WhatsApp and mark it sent or failed instead."
                    if row.status == MessageStatus.NEEDS_REVIEW
                    else ""
                ),
                details={"status": row.status},
            )
        _kick_dispatch()
    return row


def scheduled_message_resolve(
    *, message: ScheduledWhatsAppMessage, sent: bool, note: str = ""
) -> ScheduledWhatsAppMessage:
    """An operator checked WhatsApp: the needs_review row was sent, or it was not.

    A row still `sending` is refused while its lease holds: its gateway call may still be
    running, and a decision now could be contradicted by its answer (or, after "Mark failed →
    Retry", send the message twice). Once that lease has run out with the call started, the
    worker is gone and the row is as good as needs_review (the reaper would say so next).
    """
    with transaction.atomic():
        row = _get_locked(message)
        now = timezone.now()
        if row.status == MessageStatus.SENDING and row.lease_until and row.lease_until > now:
            raise ApplicationError(
                "This message is being sent right now: its gateway call may still be running "
                f"(until {timezone.localtime(row.lease_until):%H:%M:%S} at the latest). Wait for "
                "its answer, then check again.",
                details={"status": row.status, "lease_until": row.lease_until.isoformat()},
            )
        reviewable = row.status == MessageStatus.NEEDS_REVIEW or (
            row.status == MessageStatus.SENDING and row.call_started_at is not None
        )
        if not reviewable:
            raise ApplicationError(
                f"Only messages that need review can be resolved; this one is "
                f"{row.get_status_display()}.",
                details={"status": row.status},
            )
        if sent:
            row.status = MessageStatus.SENT
            row.sent_at = row.sent_at or row.call_started_at or now
            row.error_message = note or "Marked sent by staff after checking WhatsApp."
        else:
            row.status = MessageStatus.FAILED
            row.error_message = note or "Marked failed by staff after checking WhatsApp."
        row.updated_at = now
        row.lease_until = None
        row.save(update_fields=["status", "sent_at", "error_message", "lease_until", "updated_at"])
        if row.campaign_group_id:
            if sent:
                campaign_group_mirror(
                    row=row,
                    status=GroupStatus.SENT,
                    message_id=row.message_id,
                    sent_at=row.sent_at,
                    now=now,
                )
            else:
                campaign_group_mirror(
                    row=row, status=GroupStatus.FAILED, error_message=row.error_message, now=now
                )
    return row


# --- campaigns ---------------------------------------------------------------------------------


def _campaign_recount(*, campaign_id: Any, now: datetime | None = None) -> NotificationCampaign:
    now = now or timezone.now()
    with transaction.atomic():
        # The row lock serializes recounts of one campaign; each counts after taking it, so the
        # last one sees every committed group change and no count is lost.
        campaign = NotificationCampaign.objects.select_for_update().get(id=campaign_id)
        counts = NotificationCampaignGroup.objects.filter(campaign_id=campaign_id).aggregate(
            total=Count("id"),
            sent=Count("id", filter=Q(status=GroupStatus.SENT)),
            failed=Count("id", filter=Q(status=GroupStatus.FAILED)),
        )
        total, sent, failed = counts["total"], counts["sent"], counts["failed"]
        if total == 0:
            status = CampaignStatus.DRAFT
        elif sent + failed < total:
            waiting = campaign.scheduled_for > now and sent == 0
            still_scheduled = waiting and campaign.status == CampaignStatus.SCHEDULED
            status = CampaignStatus.SCHEDULED if still_scheduled else CampaignStatus.SENDING
        elif failed == 0:
            status = CampaignStatus.SENT
        elif sent == 0:
            status = CampaignStatus.FAILED
        else:
            status = CampaignStatus.PARTIAL_FAILURE
        final = status in NotificationCampaign.FINAL_STATUSES
        finished_at = (campaign.finished_at or now) if final else None
        changed = (
            campaign.total_groups,
            campaign.sent_count,
            campaign.failed_count,
            campaign.status,
            campaign.finished_at,
        ) != (total, sent, failed, status, finished_at)
        if changed:
            campaign.total_groups = total
            campaign.sent_count = sent
            campaign.failed_count = failed
            campaign.status = status
            campaign.finished_at = finished_at
            campaign.updated_at = now
            campaign.save(
                update_fields=[
                    "total_groups",
                    "sent_count",
                    "failed_count",
                    "status",
                    "finished_at",
                    "updated_at",
                ]
            )
    return campaign


def campaign_recount(*, campaign: NotificationCampaign) -> NotificationCampaign:
    """Recompute sent_count, failed_count and status from the campaign's group rows."""
    return _campaign_recount(campaign_id=campaign.id)


def campaign_group_mirror(
    *,
    row: ScheduledWhatsAppMessage,
    status: str,
    now: datetime,
    error_message: str = "",
    message_id: str | None = None,
    sent_at: datetime | None = None,
) -> None:
    """Mirror a queue row onto its campaign group row and recount (caller's transaction)."""
    fields: dict[str, Any] = {"status": status, "error_message": error_message, "updated_at": now}
    if message_id is not None:
        fields["message_id"] = message_id
        fields["sent_at"] = sent_at
    NotificationCampaignGroup.objects.filter(id=row.campaign_group_id).update(**fields)
    if status != GroupStatus.PENDING or message_id is not None:
        campaign_id = (
            row.campaign_group.campaign_id
            if row.campaign_group is not None
            else NotificationCampaignGroup.objects.values_list("campaign_id", flat=True).get(
                id=row.campaign_group_id
            )
        )
        _campaign_recount(campaign_id=campaign_id, now=now)


def campaign_create(
    *,
    organization: Organization,
    session: WhatsAppSession,
    message: str,
    group_ids: Iterable[Any],
    name: str = "",
    scheduled_for: datetime | None = None,
    created_by: Any = None,
) -> NotificationCampaign:
    _check_session(organization=organization, session=session)
    message = message or ""
    if not message.strip():
        raise ApplicationError("The message is empty.", details={"message": "required"})
    wanted = list(dict.fromkeys(str(g) for g in group_ids))
    if not wanted:
        raise ApplicationError("Pick at least one group.", details={"group_ids": "required"})
    groups = list(WhatsAppGroup.objects.filter(organization=organization, id__in=wanted))
    # Community parents are refused here, whatever the page offered (WhatsApp answers 420).
    found = {str(g.id) for g in groups}
    unknown = [g for g in wanted if g not in found]
    if unknown:
        raise ApplicationError("Unknown groups.", details={"group_ids": unknown})
    other_session = [g for g in groups if g.session_id != session.id]
    if other_session:
        raise ApplicationError(
            "Some groups belong to another WhatsApp session: "
            + ", ".join(g.group_name or g.group_jid for g in other_session),
            details={"group_ids": [str(g.id) for g in other_session]},
        )
    parents = [g for g in groups if g.is_community]
    if parents:
        raise ApplicationError(
            "Community parent groups cannot receive messages (WhatsApp rejects them): "
            + ", ".join(g.group_name or g.group_jid for g in parents)
            + ". Pick the community's announcement group or its groups instead.",
            details={"community_parents": [str(g.id) for g in parents]},
        )
    inactive = [g for g in groups if not g.is_active]
    if inactive:
        raise ApplicationError(
            "Some groups are no longer active: "
            + ", ".join(g.group_name or g.group_jid for g in inactive),
            details={"group_ids": [str(g.id) for g in inactive]},
        )

    now = timezone.now()
    when = scheduled_for or now
    user = created_by if getattr(created_by, "pk", None) else None
    with transaction.atomic():
        campaign = NotificationCampaign.objects.create(
            organization=organization,
            session=session,
            name=(name or "").strip()[:200] or _default_name(message),
            message=message,
            status=(
                NotificationCampaign.Status.SCHEDULED
                if when > now
                else NotificationCampaign.Status.SENDING
            ),
            total_groups=len(groups),
            scheduled_for=when,
            created_by=user,
        )
        group_rows = NotificationCampaignGroup.objects.bulk_create(
            [
                NotificationCampaignGroup(
                    campaign=campaign,
                    group=g,
                    group_jid=g.group_jid,
                    group_name=g.group_name,
                    updated_at=now,
                )
                for g in sorted(groups, key=lambda g: (g.group_name.lower(), g.group_jid))
            ]
        )
        ScheduledWhatsAppMessage.objects.bulk_create(
            [
                ScheduledWhatsAppMessage(
                    organization=organization,
                    session=session,
                    recipient_jid=row.group_jid,
                    message=message,
                    scheduled_for=when,
                    next_attempt_at=when,
                    campaign_group=row,
                    created_by=user,
                    updated_at=now,
                )
                for row in group_rows
            ]
        )
        if when <= now:
            _kick_dispatch()
    return campaign


def _default_name(message: str) -> str:
    first = message.strip().splitlines()[0]
    return first[:60] + ("…" if len(first) > 60 else "")


def campaign_retry_failed(*, campaign: NotificationCampaign) -> int:
    """Send the failed groups again (new clientMessageIds). Returns how many were queued."""
    now = timezone.now()
    with transaction.atomic():
        # Locks in the queue's order (message rows, then the campaign in the recount).
        rows = list(
            ScheduledWhatsAppMessage.objects.select_for_update(of=("self",))
            .filter(
                campaign_group__campaign_id=campaign.id,
                status__in=(MessageStatus.FAILED, MessageStatus.CANCELLED),
            )
            .order_by("id")
        )
        for row in rows:
            _requeue_fields(row, now)
        ScheduledWhatsAppMessage.objects.bulk_update(rows, _REQUEUE_FIELDS)
        NotificationCampaignGroup.objects.filter(id__in=[r.campaign_group_id for r in rows]).update(
            status=GroupStatus.PENDING,
            message_id="",
            error_message="",
            sent_at=None,
            updated_at=now,
        )
        _campaign_recount(campaign_id=campaign.id, now=now)
        if rows:
            _kick_dispatch()
    return len(rows)
