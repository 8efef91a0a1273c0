"""Step 2 of the queue: send the rows of a claim and record every answer.

Rules:
- Every write is fenced: it only touches the row while `claimed_by`, `attempt` and the status
  are still those of this claim. A claim taken away meanwhile (reaped, resolved by staff) is
  "lost" and nothing is written.
- While the batch runs, a heartbeat renews the lease of its rows that wait for their call
  (queue/lease.py): a live worker keeps its claim, a dead one loses it within seconds.
- Just before the gateway call, `call_started_at` is committed (fenced, and only while the lease
  holds) and the lease set to cover the call: its deadline plus a margin (`call_lease`). NULL
  `call_started_at` = this attempt certainly did not reach the gateway; a redelivered batch
  never repeats a started call.
- The answer is recorded with a fenced UPDATE, retried through database blips (what the gateway
  said must not be lost). A worker may still record after the reaper judged its attempt
  `needs_review`: it knows more than the reaper.
- Accepted → `sent` with the messageId (or `failed` if a message error for it was kept
  meanwhile). Permanent error → `failed`. Ambiguous (timeout, 5xx) → `needs_review`, or retried
  with the same clientMessageId when the gateway de-duplicates (GATEWAY_SEND_IDEMPOTENT).
  Unreachable gateway (refused, connect timeout) → back to `pending` with retry_count unchanged,
  due when the gateway's pause ends (queue/outage.py). Anything else → back to `pending` after
  `retry_delay`, until QUEUE_MAX_RETRIES.
- An answer about the session ("not connected", rate-limited, unauthorized) pauses the session:
  its other rows in this batch are handed back untried; a success clears the pause. "Not
  connected" and "unauthorized" are also noted on the session's card (its last_error).
- Each row is sent through its session's gateway (`gateways_app.clients.gateway_for`: its row,
  or the default gateway). An unreachable gateway pauses every session of that gateway and the
  rest of the batch's rows on that gateway are handed back untried; any answer from a gateway
  ends its outage (once per batch and gateway).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from campaigns_app.models import (
    NotificationCampaignGroup,
    QueueSessionState,
    ScheduledWhatsAppMessage,
)
from campaigns_app.queue.common import claim_lookahead, retry_delay, session_states_ensure
from campaigns_app.queue.errors import KEPT_ERROR_EVENTS, lock_message_id, message_error_text
from campaigns_app.queue.lease import ClaimHeartbeat, call_lease
from campaigns_app.queue.outage import gateway_reached, outage_pause
from campaigns_app.queue.receipts import receipts_apply_kept
from campaigns_app.services import campaign_group_mirror
from gateways_app.clients import gateway_for
from sessions_app.models import WhatsAppSession
from sessions_app.services import session_mark_error
from whatsapp_crm.gateway import Gateway, GatewayError
from whatsapp_crm.models import WebhookEvent

logger = logging.getLogger(__name__)

MessageStatus = ScheduledWhatsAppMessage.Status
GroupStatus = NotificationCampaignGroup.Status
# Answers about the session rather than the message: pause the session's other rows.
_PAUSING_CODES = ("not_connected", "rate_limited", "unauthorized")
# Failures worth showing on the session's card (its last_error).
_SESSION_NOTED_CODES = ("not_connected", "unauthorized")
# A worker may still record what it learned after the reaper judged its attempt "unknown".
_RECORDABLE = (MessageStatus.SENDING, MessageStatus.NEEDS_REVIEW)


@dataclass
class SendSummary:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    needs_review: int = 0
    lost: int = 0  # claims taken away meanwhile (reaped); nothing was sent for them
    deferred: int = 0  # handed back untried because their session just paused
    outcomes: dict[str, str] = field(default_factory=dict)

    def add(self, row_id: Any, outcome: str) -> None:
        self.outcomes[str(row_id)] = outcome
        setattr(self, outcome, getattr(self, outcome) + 1)

    def merge(self, other: SendSummary) -> None:
        for name in ("sent", "failed", "retrying", "needs_review", "lost", "deferred"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.outcomes.update(other.outcomes)

    @property
    def total(self) -> int:
        return (
            self.sent + self.failed + self.retrying + self.needs_review + self.lost + self.deferred
        )


def _body_text(body: Any) -> str:
    if body is None or body == "":
        return ""
    if isinstance(body, (dict, list)):
        return json.dumps(body, ensure_ascii=False)[:4000]
    return str(body)[:4000]


def queue_send_claimed(
    *, token: str, row_ids: Iterable[Any], gateway: Gateway | None = None
) -> SendSummary:
    """Send the rows of one claim, each at its rate-limit slot, and record every answer.

    `gateway` (tests) replaces every session's own gateway client."""
    summary = SendSummary()
    rows = list(
        ScheduledWhatsAppMessage.objects.filter(
            id__in=list(row_ids),
            claimed_by=token,
            status=MessageStatus.SENDING,
            call_started_at__isnull=True,  # a redelivered task never repeats a started call
        )
        .select_related("session", "session__gateway", "campaign_group")
        .order_by("send_after", "next_attempt_at")
    )
    if not rows:
        return summary
    batch = _Batch(fixed_gateway=gateway)
    with ClaimHeartbeat(token, gateway=gateway) as heartbeat:
        for row in rows:
            if row.session.gateway_id in batch.gateways_down or row.session_id in batch.paused:
                # Its session (or its whole gateway) just failed: hand the row back untried.
                summary.add(row.id, _defer(row=row, token=token))
                continue
            if row.send_after:
                wait = (row.send_after - timezone.now()).total_seconds()
                if wait > 0:
                    time.sleep(min(wait, claim_lookahead().total_seconds()))
            outcome = _send_one(row=row, token=token, batch=batch)
            summary.add(row.id, outcome)
            heartbeat.progress()
            if outcome == "sent" and row.session_id not in batch.recovered:
                batch.recovered.add(row.session_id)
                QueueSessionState.objects.filter(
                    session_id=row.session_id, consecutive_failures__gt=0
                ).update(consecutive_failures=0, paused_until=None)
    return summary


@dataclass
class _Batch:
    """What one batch learned about its sessions and their gateways so far. Gateways are named
    by `whatsapp_sessions.gateway_id` (None: the default gateway)."""

    fixed_gateway: Gateway | None = None  # tests: one client for every session
    paused: set[Any] = field(default_factory=set)  # sessions that just answered "not connected"
    recovered: set[Any] = field(default_factory=set)  # sessions that just sent
    gateways_down: set[Any] = field(default_factory=set)  # unreachable: nothing more is tried
    gateways_answered: set[Any] = field(default_factory=set)  # answered: any outage is over
    clients: dict[Any, Gateway] = field(default_factory=dict)

    def client_for(self, session: WhatsAppSession) -> Gateway:
        """The session's gateway client (built once per gateway and batch)."""
        if self.fixed_gateway is not None:
            return self.fixed_gateway
        key = session.gateway_id
        if key not in self.clients:
            self.clients[key] = gateway_for(session)
        return self.clients[key]

    def gateway_reachable(self, gateway_id: Any) -> None:
        """Called after the answer is recorded, so that a failure here cannot lose it."""
        if gateway_id in self.gateways_answered:
            return
        self.gateways_answered.add(gateway_id)
        try:
            gateway_reached(gateway_id=gateway_id)
        except DatabaseError:
            # The outage flag stays one batch longer: the next answer clears it.
            logger.warning("could not clear the gateway outage", exc_info=True)


def _fenced(
    row: ScheduledWhatsAppMessage, token: str, statuses: tuple[str, ...] = (MessageStatus.SENDING,)
) -> Any:
    """The row, only while this claim (token and attempt) still holds it in `statuses`."""
    return ScheduledWhatsAppMessage.objects.filter(
        id=row.id, claimed_by=token, attempt=row.attempt, status__in=statuses
    )


def _defer(*, row: ScheduledWhatsAppMessage, token: str) -> str:
    now = timezone.now()
    released = ScheduledWhatsAppMessage.objects.filter(
        id=row.id,
        claimed_by=token,
        attempt=row.attempt,
        status=MessageStatus.SENDING,
        call_started_at__isnull=True,
    ).update(status=MessageStatus.PENDING, next_attempt_at=now, lease_until=None, updated_at=now)
    return "deferred" if released else "lost"


def _send_one(*, row: ScheduledWhatsAppMessage, token: str, batch: _Batch) -> str:
    """Call the session's gateway for one row and record the answer; returns the outcome."""
    gateway_id = row.session.gateway_id
    try:
        gateway = batch.client_for(row.session)
    except GatewayError as exc:  # the gateway row cannot be used (e.g. its key is unreadable)
        outcome = _with_db_retry(partial(record_failure, row=row, token=token, exc=exc))
        batch.paused.add(row.session_id)
        return outcome
    now = timezone.now()
    started = ScheduledWhatsAppMessage.objects.filter(
        id=row.id,
        claimed_by=token,
        attempt=row.attempt,
        status=MessageStatus.SENDING,
        call_started_at__isnull=True,
        lease_until__gt=now,
    ).update(call_started_at=now, lease_until=now + call_lease(gateway), updated_at=now)
    if not started:
        return "lost"
    try:
        message_id = gateway.send_message(
            session_id=row.session.session_id,
            to=row.recipient_jid,
            message=row.message,
            client_message_id=str(row.client_message_id),
        )
    except GatewayError as exc:
        outcome = _with_db_retry(partial(record_failure, row=row, token=token, exc=exc))
        if exc.unreachable:
            batch.gateways_down.add(gateway_id)
        else:
            batch.gateway_reachable(gateway_id)
        if exc.code in _PAUSING_CODES:
            batch.paused.add(row.session_id)
        return outcome
    outcome = _with_db_retry(partial(record_sent, row=row, token=token, message_id=message_id))
    batch.gateway_reachable(gateway_id)
    return outcome


def _with_db_retry(record: Callable[[], str], attempts: int = 3) -> str:
    """Record an answer, retrying a database blip: what the gateway said must not be lost.

    If every attempt fails the row stays `sending` with call_started_at set, and the reaper
    turns it into needs_review — the safe side. A retry after a commit whose answer got lost
    is harmless: the fence no longer matches and nothing is written twice.
    """
    for attempt in range(attempts):
        try:
            return record()
        except (OperationalError, InterfaceError):
            if connection.in_atomic_block or attempt == attempts - 1:
                raise
            logger.warning("recording a send failed (attempt %s); retrying", attempt + 1)
            connection.close()
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def record_sent(*, row: ScheduledWhatsAppMessage, token: str, message_id: str) -> str:
    """The gateway accepted the row as `message_id`: sent, or failed when a message error for
    that id was kept meanwhile. Returns the outcome ("sent", "failed" or "lost")."""
    now = timezone.now()
    with transaction.atomic():
        lock_message_id(message_id)
        # Events kept for this message id: errors fail the row; receipts (acks) are counted.
        kept_events = list(
            WebhookEvent.objects.select_for_update().filter(
                outcome=WebhookEvent.Outcome.PENDING,
                reference=message_id,
                session_id=row.session.session_id,
            )
        )
        kept_errors = (
            list(
                WebhookEvent.objects.filter(
                    KEPT_ERROR_EVENTS, id__in=[e.id for e in kept_events]
                ).order_by("received_at")
            )
            if kept_events
            else []
        )
        error = ""
        if kept_errors:
            payload = kept_errors[0].payload or {}
            error = message_error_text(
                code=payload.get("errorCode", ""), message=str(payload.get("errorMessage", ""))
            )
        status = MessageStatus.FAILED if error else MessageStatus.SENT
        updated = _fenced(row, token, _RECORDABLE).update(
            status=status,
            message_id=message_id,
            sent_at=now,
            error_message=error,
            vps_error="",
            lease_until=None,
            updated_at=now,
        )
        if not updated:
            # Someone resolved the row meanwhile (operator); keep their decision, say so loudly.
            logger.warning(
                "send %s of row %s recorded too late (row changed meanwhile); message id %s",
                row.attempt,
                row.id,
                message_id,
            )
            return "lost"
        if kept_events:
            WebhookEvent.objects.filter(id__in=[e.id for e in kept_events]).update(
                outcome=WebhookEvent.Outcome.APPLIED,
                applied_at=now,
                detail=f"applied when the send of row {row.id} was recorded",
            )
        receipts_apply_kept(row=row, message_id=message_id)
        if row.campaign_group_id:
            campaign_group_mirror(
                row=row,
                status=GroupStatus.FAILED if error else GroupStatus.SENT,
                message_id=message_id,
                error_message=error,
                sent_at=now,
                now=now,
            )
    return "failed" if error else "sent"


def record_failure(*, row: ScheduledWhatsAppMessage, token: str, exc: GatewayError) -> str:
    """The gateway refused or did not answer: failed, needs review, or retried later.
    Returns the outcome ("failed", "needs_review", "retrying", "deferred" or "lost")."""
    if exc.unreachable:
        return _record_unreachable(row=row, token=token, exc=exc)
    now = timezone.now()
    max_retries = int(settings.QUEUE_MAX_RETRIES)
    vps_error = _body_text(exc.body)
    group_status: str | None = None
    if exc.permanent:
        outcome, status = "failed", MessageStatus.FAILED
        error = exc.message
        fields: dict[str, Any] = {}
        group_status = GroupStatus.FAILED
    elif exc.ambiguous:
        if settings.GATEWAY_SEND_IDEMPOTENT and row.retry_count < max_retries:
            # The gateway de-duplicates by clientMessageId, so the same id may be sent again.
            outcome, status = "retrying", MessageStatus.PENDING
            error = f"{exc.message} Retrying with the same clientMessageId."
            fields = {
                "retry_count": row.retry_count + 1,
                "next_attempt_at": now + retry_delay(row.retry_count + 1),
            }
        else:
            outcome, status = "needs_review", MessageStatus.NEEDS_REVIEW
            error = (
                f"{exc.message} The message may have been sent: check WhatsApp, then mark it "
                "sent or failed."
            )
            fields = {}
    elif row.retry_count >= max_retries:
        outcome, status = "failed", MessageStatus.FAILED
        error = f"Gave up after {row.retry_count + 1} attempts: {exc.message}"
        fields = {}
        group_status = GroupStatus.FAILED
    else:
        # Not connected, refused, rate-limited: the gateway certainly did not send it.
        outcome, status = "retrying", MessageStatus.PENDING
        error = exc.message
        fields = {
            "retry_count": row.retry_count + 1,
            "next_attempt_at": now + retry_delay(row.retry_count + 1),
        }

    with transaction.atomic():
        updated = _fenced(row, token, _RECORDABLE).update(
            status=status,
            error_message=error[:2000],
            vps_error=vps_error,
            lease_until=None,
            updated_at=now,
            **fields,
        )
        if not updated:
            return "lost"
        if row.campaign_group_id:
            group_error = error
            if status == MessageStatus.PENDING:
                group_error = (
                    f"Retry {fields['retry_count']}/{max_retries} "
                    f"at {timezone.localtime(fields['next_attempt_at']):%H:%M:%S}: {exc.message}"
                )
            elif status == MessageStatus.NEEDS_REVIEW:
                group_error = f"Needs review: {exc.message}"
            campaign_group_mirror(
                row=row,
                status=group_status or GroupStatus.PENDING,
                error_message=group_error,
                now=now,
            )
        if exc.code in _PAUSING_CODES:
            _session_pause(session_id=row.session_id, now=now)

    if exc.code in _SESSION_NOTED_CODES:
        _session_note_error(session=row.session, error=exc.message)
    return outcome


def _record_unreachable(*, row: ScheduledWhatsAppMessage, token: str, exc: GatewayError) -> str:
    """The request never reached the gateway: pause the gateway, keep the row's retries."""
    now = timezone.now()
    with transaction.atomic():
        # States first, then the row: the one lock order of this path (queue/outage.py).
        until = outage_pause(now=now, gateway_id=row.session.gateway_id)
        since = (
            QueueSessionState.objects.filter(session_id=row.session_id)
            .values_list("unreachable_since", flat=True)
            .first()
        ) or now
        error = (
            f"{exc.message} Waiting for the gateway since {timezone.localtime(since):%H:%M}; "
            "this does not count as a retry."
        )
        updated = _fenced(row, token, _RECORDABLE).update(
            status=MessageStatus.PENDING,
            next_attempt_at=until,
            error_message=error[:2000],
            vps_error="",
            lease_until=None,
            updated_at=now,
        )
        if not updated:
            return "lost"
        if row.campaign_group_id:
            campaign_group_mirror(
                row=row,
                status=GroupStatus.PENDING,
                error_message=f"Waiting for the gateway: {exc.message}",
                now=now,
            )
    return "deferred"


def _session_pause(*, session_id: Any, now: datetime) -> None:
    session_states_ensure([session_id])
    state = QueueSessionState.objects.select_for_update().get(session_id=session_id)
    if state.unreachable_since is not None:
        # The gateway answered about this session: its outage is over, its own pause begins.
        state.unreachable_since = None
        state.consecutive_failures = 0
    state.consecutive_failures += 1
    state.paused_until = now + retry_delay(state.consecutive_failures)
    state.save(update_fields=["consecutive_failures", "paused_until", "unreachable_since"])


def _session_note_error(*, session: WhatsAppSession, error: str) -> None:
    """Show the gateway's complaint on the session's card (sessions_app owns how)."""
    try:
        session_mark_error(session=session, error=error)
    except Exception:
        # The queue row is already recorded correctly; a failed status note must not undo that.
        logger.exception("could not record the error on session %s", session.session_id)
