"""What staff do with one queue row: create, cancel, send now, retry, restore, resolve.

Sending is the queue's job (`campaigns_app/queue/`); the reasoning behind its rules:
docs/reliability.md. Each action accepts only the statuses it makes sense for and says why
otherwise (the queue page and the admin show that message):
- cancel: pending → cancelled (never sent; its campaign group too).
- send now: pending → due now (skips a back-off or the schedule).
- retry now: failed → pending now, a new send with a new clientMessageId.
- restore: cancelled → pending again at its scheduled time, or now if that has passed.
- resolve (mark sent / failed): needs_review → sent | failed, after a person checked WhatsApp.
  "Mark sent" on a row WhatsApp reported an error for (a late `message_error` that matched no
  recorded send, queue/errors.py) is refused unless confirmed.
A due row asks for a dispatch right after commit instead of waiting for the next beat tick.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from campaigns_app.models import (
    NotificationCampaignGroup,
    QueueSessionState,
    ScheduledWhatsAppMessage,
)
from campaigns_app.services.campaigns import campaign_group_mirror, campaign_group_requeued
from campaigns_app.services.common import (
    REQUEUE_FIELDS,
    kick_dispatch,
    requeue_fields,
    session_check,
)
from sessions_app.models import WhatsAppSession
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.models import Organization

MessageStatus = ScheduledWhatsAppMessage.Status
GroupStatus = NotificationCampaignGroup.Status
CANCELLED_BY_STAFF = "Cancelled by staff."


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
    session_check(organization=organization, session=session)
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
            kick_dispatch()
    return row


def _get_locked(row: ScheduledWhatsAppMessage) -> ScheduledWhatsAppMessage:
    return (
        ScheduledWhatsAppMessage.objects.select_for_update(of=("self",))
        .select_related("campaign_group")
        .get(id=row.id)
    )


def _refuse(row: ScheduledWhatsAppMessage, text: str) -> ApplicationError:
    return ApplicationError(text, details={"status": row.status})


def scheduled_message_cancel(*, message: ScheduledWhatsAppMessage) -> ScheduledWhatsAppMessage:
    with transaction.atomic():
        row = _get_locked(message)
        if row.status != MessageStatus.PENDING:
            raise _refuse(
                row,
                f"Only pending messages can be cancelled; this one is {row.get_status_display()}.",
            )
        now = timezone.now()
        row.status = MessageStatus.CANCELLED
        row.error_message = CANCELLED_BY_STAFF
        row.updated_at = now
        row.save(update_fields=["status", "error_message", "updated_at"])
        if row.campaign_group_id:
            campaign_group_mirror(
                row=row, status=GroupStatus.CANCELLED, error_message=CANCELLED_BY_STAFF, now=now
            )
    return row


def scheduled_message_send_now(*, message: ScheduledWhatsAppMessage) -> ScheduledWhatsAppMessage:
    """A pending row: due now instead of after its back-off or at its scheduled time."""
    with transaction.atomic():
        row = _get_locked(message)
        if row.status != MessageStatus.PENDING:
            raise _refuse(
                row,
                f"Only pending messages can be sent now; this one is {row.get_status_display()}.",
            )
        now = timezone.now()
        row.next_attempt_at = now
        row.updated_at = now
        row.save(update_fields=["next_attempt_at", "updated_at"])
        QueueSessionState.objects.filter(session_id=row.session_id).update(paused_until=None)
        kick_dispatch()
    return row


def scheduled_message_retry_now(*, message: ScheduledWhatsAppMessage) -> ScheduledWhatsAppMessage:
    """A failed row: send it again now, as a new send (new clientMessageId, fresh retries)."""
    with transaction.atomic():
        row = _get_locked(message)
        if row.status != MessageStatus.FAILED:
            hint = {
                MessageStatus.PENDING: " It is still waiting: use Send now.",
                MessageStatus.CANCELLED: " Restore it to put it back in the queue.",
                MessageStatus.NEEDS_REVIEW: " Check WhatsApp and mark it sent or failed instead.",
            }.get(row.status, "")
            raise _refuse(
                row,
                f"Only failed messages can be retried; this one is {row.get_status_display()}."
                + hint,
            )
        now = timezone.now()
        requeue_fields(row, now=now, due=now)
        row.save(update_fields=REQUEUE_FIELDS)
        if row.campaign_group_id:
            campaign_group_requeued(row=row, now=now)
        kick_dispatch()
    return row


def scheduled_message_restore(*, message: ScheduledWhatsAppMessage) -> ScheduledWhatsAppMessage:
    """A cancelled row: back in the queue at its scheduled time, or now if that has passed."""
    with transaction.atomic():
        row = _get_locked(message)
        if row.status != MessageStatus.CANCELLED:
            raise _refuse(
                row,
                f"Only cancelled messages can be restored; this one is {row.get_status_display()}.",
            )
        now = timezone.now()
        due = max(now, row.scheduled_for)
        requeue_fields(row, now=now, due=due)
        row.save(update_fields=REQUEUE_FIELDS)
        if row.campaign_group_id:
            campaign_group_requeued(row=row, now=now)
        if due <= now:
            kick_dispatch()
    return row


def scheduled_message_resolve(
    *, message: ScheduledWhatsAppMessage, sent: bool, note: str = "", confirmed: bool = False
) -> ScheduledWhatsAppMessage:
    """An operator checked WhatsApp: the needs_review row was sent, or it was not.

    A row still `sending` is refused while its lease holds: its gateway call may still be
    running, and a decision now could be contradicted by its answer (or, after "Mark failed →
    Retry", send the message twice). Once that lease has run out with the call started, the
    worker is gone and the row is as good as needs_review (the reaper would say so next).

    When WhatsApp reported an error that may be about this send (a late `message_error` that
    matched no recorded send, queue/errors.py), "Mark sent" is refused unless `confirmed`: the
    person must have seen that error. Either decision settles those kept errors.
    """
    from campaigns_app.queue.errors import late_errors_for, late_errors_settle  # imports us

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
            raise _refuse(
                row,
                f"Only messages that need review can be resolved; this one is "
                f"{row.get_status_display()}.",
            )
        late_error = late_errors_for(rows=[row]).get(row.id)
        if sent and late_error and not confirmed:
            raise ApplicationError(
                f"{late_error.text} Check WhatsApp again: if the message did arrive, confirm "
                "“Mark sent” once more.",
                details={"status": row.status, "late_error": late_error.text, "confirm": "1"},
            )
        if sent:
            row.status = MessageStatus.SENT
            row.sent_at = row.sent_at or row.call_started_at or now
            row.error_message = note or "Marked sent by staff after checking WhatsApp."
            if late_error:
                row.error_message += f" (Despite: {late_error.text})"
        else:
            row.status = MessageStatus.FAILED
            row.error_message = note or "Marked failed by staff after checking WhatsApp."
            if late_error:
                row.error_message += f" {late_error.text}"
        row.updated_at = now
        row.lease_until = None
        row.save(update_fields=["status", "sent_at", "error_message", "lease_until", "updated_at"])
        if late_error:
            late_errors_settle(late_error=late_error, row=row, now=now)
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
