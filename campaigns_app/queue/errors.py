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
- The event may carry `clientMessageId` (ours, sent with /send): then it is matched by that
  first, exactly, whatever messageId the gateway reports. A row it names that is still waiting or
  being sent keeps the event pending, like an unknown messageId.
- A kept error can be about a send that will never be recorded: a call that timed out became
  needs_review without a message id. `late_errors_for` finds, for needs_review rows, the kept
  errors of the same session that name the row's clientMessageId, or (without one) the same
  group and arrived from the call's start until LATE_ERROR_MATCH_SECONDS after it. The queue page
  shows them on the row and "Mark sent" is refused until confirmed; resolving the row settles
  them (`late_errors_settle`), so none stays pending for ever unseen.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from campaigns_app.models import NotificationCampaignGroup, ScheduledWhatsAppMessage
from campaigns_app.services import campaign_group_mirror
from sessions_app.models import WhatsAppSession
from whatsapp_crm.models import WebhookEvent

MessageStatus = ScheduledWhatsAppMessage.Status
MESSAGE_ERROR_SOURCE = "message_error"
# Our protocol's message acks (queue/receipts.py); an `error` ack is a message error.
MESSAGE_ACK_SOURCE = "message_ack"
# Kept (pending) events that report an error for a message: their payloads name errorCode and
# errorMessage. Receivers of other gateways add their own kept error events here.
KEPT_ERROR_EVENTS = Q(source=MESSAGE_ERROR_SOURCE) | Q(
    source=MESSAGE_ACK_SOURCE, payload__ack="error"
)
# How long after a call started an unmatched error about the same group is taken to be about it:
# the longest call (GATEWAY_TIMEOUT_SECONDS) plus the minutes WhatsApp may take to refuse.
LATE_ERROR_MATCH_SECONDS = 600
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


def _as_uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(text))
    except ValueError:
        return None


def message_error_apply(
    *,
    session_key: str,
    message_id: str,
    error_code: Any,
    error_message: str,
    client_message_id: str = "",
) -> MessageErrorOutcome:
    """Turn the sent row named by `client_message_id` (exact) or gateway id `message_id` into
    failed (caller's transaction).

    `pending` means the send is not recorded yet: the caller keeps the event (webhook_events,
    outcome pending, reference = message_id), `record_sent` applies it later, and while the row
    needs review the queue page shows it (`late_errors_for`).
    """
    rows = ScheduledWhatsAppMessage.objects.select_for_update(of=("self",)).select_related(
        "campaign_group"
    )
    client_id = _as_uuid(client_message_id) if client_message_id else None
    # The usual case first, in one statement: the recorded send of `message_id` (its session
    # joined in). Found, it is recorded and committed: no recorder to wait for.
    row = (
        rows.filter(session__session_id=session_key, message_id=message_id).first()
        if client_id is None
        else None
    )
    if row is None:
        session = WhatsAppSession.objects.filter(session_id=session_key).first()
        if session is None:
            return MessageErrorOutcome("unknown_session")
        # The outcome may be `pending`: hold the recorder's lock until this event is kept.
        lock_message_id(message_id)
        if client_id is not None:
            row = rows.filter(session=session, client_message_id=client_id).first()
            if row is not None and row.status in (MessageStatus.PENDING, MessageStatus.SENDING):
                # Its call is under way (or will be repeated with this id): kept until recorded.
                return MessageErrorOutcome("pending", row.id, "send not recorded yet; kept")
        if row is None:
            row = rows.filter(session=session, message_id=message_id).first()
        if row is None:
            return MessageErrorOutcome("pending", detail="send not recorded yet; kept")
    text = message_error_text(code=error_code, message=error_message)
    if row.status not in (MessageStatus.SENT, MessageStatus.NEEDS_REVIEW):
        return MessageErrorOutcome("unchanged", row.id, f"row is {row.status}; nothing to change")
    if row.delivered_count:
        # Receipts never move a row backwards: a message that reached someone is not failed.
        return MessageErrorOutcome(
            "unchanged", row.id, f"already delivered to {row.delivered_count}; not failed"
        )
    now = timezone.now()
    ScheduledWhatsAppMessage.objects.filter(id=row.id).update(
        status=MessageStatus.FAILED, error_message=text, updated_at=now
    )
    if row.campaign_group_id:
        campaign_group_mirror(
            row=row, status=NotificationCampaignGroup.Status.FAILED, error_message=text, now=now
        )
    return MessageErrorOutcome("applied", row.id, text)


@dataclass(frozen=True)
class LateError:
    """Kept message errors that may be about one needs_review row (the newest first)."""

    received_at: datetime
    code: str
    message: str
    exact: bool  # matched by clientMessageId, not only by group and time
    event_ids: list[int] = field(default_factory=list)

    @property
    def text(self) -> str:
        at = timezone.localtime(self.received_at)
        return (
            f"WhatsApp reported an error for this group at {at:%H:%M}: "
            f"{self.code} {self.message}".strip()
        )


def _match_window(row: ScheduledWhatsAppMessage) -> tuple[datetime, datetime]:
    start = row.call_started_at or row.updated_at
    return start, start + timedelta(seconds=LATE_ERROR_MATCH_SECONDS)


def late_errors_for(*, rows: Iterable[ScheduledWhatsAppMessage]) -> dict[Any, LateError]:
    """Kept `message_error` events about the needs_review rows among `rows`, by row id.

    Same session; the row's clientMessageId, or (the event naming none) the row's group and a
    time from the call's start until LATE_ERROR_MATCH_SECONDS later. One query for all rows.
    """
    review = [row for row in rows if row.status == MessageStatus.NEEDS_REVIEW]
    if not review:
        return {}
    session_keys = dict(
        WhatsAppSession.objects.filter(id__in={row.session_id for row in review}).values_list(
            "id", "session_id"
        )
    )
    windows = [_match_window(row) for row in review]
    candidates = Q()
    for row, (start, end) in zip(review, windows, strict=True):
        candidates |= Q(
            session_id=session_keys[row.session_id],
            received_at__gte=start,
            received_at__lte=end,
        ) | Q(
            session_id=session_keys[row.session_id],
            payload__clientMessageId=str(row.client_message_id),
        )
    events = list(
        WebhookEvent.objects.filter(
            candidates, KEPT_ERROR_EVENTS, outcome=WebhookEvent.Outcome.PENDING
        ).order_by("-received_at")
    )
    found: dict[Any, LateError] = {}
    for row, (start, end) in zip(review, windows, strict=True):
        mine = [
            (event, exact)
            for event in events
            if event.session_id == session_keys[row.session_id]
            and (exact := _is_about(event, row, start, end)) is not None
        ]
        if not mine:
            continue
        newest = mine[0][0]
        payload = newest.payload if isinstance(newest.payload, dict) else {}
        found[row.id] = LateError(
            received_at=newest.received_at,
            code=str(payload.get("errorCode") or ""),
            message=str(payload.get("errorMessage") or ""),
            exact=any(is_exact for _, is_exact in mine),
            event_ids=[event.id for event, _ in mine],
        )
    return found


def _is_about(
    event: WebhookEvent, row: ScheduledWhatsAppMessage, start: datetime, end: datetime
) -> bool | None:
    """True: names the row's clientMessageId; False: same group and time; None: not about it."""
    payload = event.payload if isinstance(event.payload, dict) else {}
    named = str(payload.get("clientMessageId") or "")
    if named:
        return True if named == str(row.client_message_id) else None
    if payload.get("groupJid") == row.recipient_jid and start <= event.received_at <= end:
        return False
    return None


def late_errors_settle(
    *, late_error: LateError, row: ScheduledWhatsAppMessage, now: datetime
) -> None:
    """A person resolved the row these kept errors were shown on: they are no longer pending."""
    WebhookEvent.objects.filter(
        id__in=late_error.event_ids, outcome=WebhookEvent.Outcome.PENDING
    ).update(
        outcome=WebhookEvent.Outcome.APPLIED,
        applied_at=now,
        detail=f"shown on needs_review row {row.id}; staff marked it {row.status}",
    )
