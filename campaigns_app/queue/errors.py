"""Late message errors: WhatsApp refusing a message after the gateway accepted it (error 420).

Rules:
- A `message_error` webhook names the gateway's messageId. `message_error_apply` turns the row
  with that id from `sent` (or `needs_review`) into `failed`, and its campaign group with it.
  Rows in any other state are left alone.
- When no row has that id yet (the worker has not recorded its send), the caller keeps the event
  in `webhook_events` (source MESSAGE_ERROR_SOURCE, outcome pending, reference = messageId) and
  `queue.send.record_sent` applies it when it records the send: a late error is never lost.
- Both sides take `lock_message_id(messageId)` first (a Postgres advisory lock held until the
  transaction ends), so neither can look for the other just before the other commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from campaigns_app.models import NotificationCampaignGroup, ScheduledWhatsAppMessage
from campaigns_app.services import campaign_group_mirror
from sessions_app.models import WhatsAppSession

MessageStatus = ScheduledWhatsAppMessage.Status
MESSAGE_ERROR_SOURCE = "message_error"
# First key of the Postgres advisory locks taken per gateway messageId (see lock_message_id).
_ADVISORY_NAMESPACE = 0x57414D45  # "WAME"


def lock_message_id(message_id: str) -> None:
    """Serialize "record send M" and "message error for M" (held until the transaction ends).

    Without it a webhook could look for M just before the worker commits M, and the worker could
    look for kept errors of M just before the webhook commits its pending event: both would miss.
    SQLite runs one write transaction at a time, so it needs nothing here.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                [_ADVISORY_NAMESPACE, message_id],
            )


def message_error_text(*, code: Any, message: str) -> str:
    return f"WhatsApp error {code}: {message}".strip()


@dataclass(frozen=True)
class MessageErrorOutcome:
    kind: str  # unknown_session | pending | applied | unchanged
    row_id: uuid.UUID | None = None
    detail: str = ""


def message_error_apply(
    *, session_key: str, message_id: str, error_code: Any, error_message: str
) -> MessageErrorOutcome:
    """Turn the sent row with gateway id `message_id` into failed (caller's transaction).

    `pending` means the send is not recorded yet: the caller keeps the event (webhook_events,
    outcome pending, reference = message_id) and `record_sent` applies it later.
    """
    session = WhatsAppSession.objects.filter(session_id=session_key).first()
    if session is None:
        return MessageErrorOutcome("unknown_session")
    lock_message_id(message_id)
    row = (
        ScheduledWhatsAppMessage.objects.select_for_update(of=("self",))
        .select_related("campaign_group")
        .filter(session=session, message_id=message_id)
        .first()
    )
    if row is None:
        return MessageErrorOutcome("pending", detail="send not recorded yet; kept")
    text = message_error_text(code=error_code, message=error_message)
    if row.status not in (MessageStatus.SENT, MessageStatus.NEEDS_REVIEW):
        return MessageErrorOutcome("unchanged", row.id, f"row is {row.status}; nothing to change")
    now = timezone.now()
    ScheduledWhatsAppMessage.objects.filter(id=row.id).update(
        status=MessageStatus.FAILED, error_message=text, updated_at=now
    )
    if row.campaign_group_id:
        campaign_group_mirror(
            row=row, status=NotificationCampaignGroup.Status.FAILED, error_message=text, now=now
        )
    return MessageErrorOutcome("applied", row.id, text)
