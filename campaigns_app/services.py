"""Writes for the send queue and campaigns. The reasoning behind every step: docs/reliability.md.

The queue's rules, in short:
- `queue_claim` takes due rows with `SELECT … FOR UPDATE SKIP LOCKED` and commits them as
  `sending` with a new claim token and attempt number (the fence) before anything is sent.
- `queue_send_claimed` commits `call_started_at` (fenced) just before each gateway call, then
  records the answer with a fenced update. NULL `call_started_at` = this attempt certainly did
  not reach the gateway.
- `queue_reap` returns expired claims that never started their call to `pending`, and turns
  expired ones that did into `needs_review` (or retries them when the gateway is idempotent).
"""

from __future__ import annotations

import json
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Case, Count, DateTimeField, Exists, F, OuterRef, Q, Value, When
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
from whatsapp_crm.gateway import Gateway, GatewayError, get_gateway
from whatsapp_crm.models import Organization, WebhookEvent

logger = logging.getLogger(__name__)

Msg = ScheduledWhatsAppMessage
GroupRow = NotificationCampaignGroup
MESSAGE_ERROR_SOURCE = "message_error"
# First key of the Postgres advisory locks taken per gateway messageId (see _lock_message_id).
_ADVISORY_NAMESPACE = 0x57414D45  # "WAME"
_HOST = socket.gethostname()[:40]


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def _claim_token() -> str:
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _horizon() -> timedelta:
    """How far ahead a claim may book rate-limit slots (the worker waits for them)."""
    return timedelta(seconds=max(1.0, float(settings.QUEUE_DISPATCH_INTERVAL_SECONDS)))


def _call_lease() -> timedelta:
    # A live worker always finishes its call (bounded by the gateway timeout) before its lease
    # ends, so only a dead or frozen worker is ever reaped.
    return timedelta(
        seconds=max(float(settings.QUEUE_LEASE_SECONDS), settings.GATEWAY_TIMEOUT_SECONDS * 2 + 5)
    )


def retry_delay(retry_count: int) -> timedelta:
    """Exponential back-off with jitter: base·2^(n-1), capped, times a random 0.5–1.0."""
    base = float(_setting("QUEUE_RETRY_BASE_SECONDS", 30))
    cap = float(_setting("QUEUE_RETRY_MAX_SECONDS", 900))
    delay = min(cap, base * 2 ** max(0, retry_count - 1))
    return timedelta(seconds=delay * random.uniform(0.5, 1.0))


def _body_text(body: Any) -> str:
    if body is None or body == "":
        return ""
    if isinstance(body, (dict, list)):
        return json.dumps(body, ensure_ascii=False)[:4000]
    return str(body)[:4000]


def _kick_dispatch() -> None:
    """Ask for a dispatch right after commit instead of waiting for the next beat tick."""
    from campaigns_app import tasks  # tasks import this module

    def send() -> None:
        try:
            tasks.queue_dispatch.delay()
        except Exception:  # noqa: BLE001 — beat dispatches anyway; the row is already committed
            logger.warning("could not queue an immediate dispatch; beat will pick the row up")

    transaction.on_commit(send)


def _ensure_session_state(session_id: Any) -> None:
    _ensure_session_states({session_id})


def _ensure_session_states(session_ids: set[Any]) -> None:
    """Create the pacing rows that do not exist yet. INSERT … ON CONFLICT DO NOTHING on the
    primary key (the session id) is deliberate: another worker creating the same row at the same
    moment is fine, only the row's existence matters, and the table has no other constraint."""
    QueueSessionState.objects.bulk_create(
        [QueueSessionState(session_id=s) for s in session_ids], ignore_conflicts=True
    )


# --- claiming ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    token: str
    row_ids: list[uuid.UUID]

    def __bool__(self) -> bool:
        return bool(self.row_ids)


def queue_claim(*, limit: int | None = None, now: datetime | None = None) -> Claim:
    """Claim up to `limit` due rows for one worker and COMMIT them as `sending`.

    Must run in autocommit mode (not inside an outer transaction) for the guarantees to hold.
    """
    now = _now(now)
    limit = limit or settings.QUEUE_BATCH_SIZE
    rate = int(settings.QUEUE_SESSION_RATE_PER_MINUTE)
    token = _claim_token()

    with transaction.atomic():
        if rate > 0:
            taken = _pick_paced(now=now, limit=limit, rate=rate)
        else:
            taken = _pick_unpaced(now=now, limit=limit)
        if not taken:
            return Claim(token=token, row_ids=[])
        ids = [row_id for row_id, _ in taken]
        if rate > 0:
            send_after_expr: Any = Case(
                *[When(id=row_id, then=Value(at)) for row_id, at in taken],
                default=Value(now),
                output_field=DateTimeField(),
            )
        else:
            send_after_expr = None  # no slot: send at once
        Msg.objects.filter(id__in=ids).update(
            status=Msg.Status.SENDING,
            claimed_by=token,
            claimed_at=now,
            lease_until=now + _horizon() + timedelta(seconds=settings.QUEUE_LEASE_SECONDS),
            attempt=F("attempt") + 1,
            send_after=send_after_expr,
            call_started_at=None,
            updated_at=now,
        )
    return Claim(token=token, row_ids=ids)


def _due(now: datetime) -> Any:
    return Msg.objects.filter(status=Msg.Status.PENDING, next_attempt_at__lte=now)


def _paused(state: QueueSessionState | None, now: datetime) -> bool:
    return bool(state is not None and state.paused_until and state.paused_until > now)


def _probing(state: QueueSessionState | None, session_status: str) -> bool:
    """A session that answered "not connected" (or is stored disconnected) gets one probe at a
    time, so its other rows wait instead of burning their retries."""
    return session_status == WhatsAppSession.Status.DISCONNECTED or (
        state is not None and state.consecutive_failures > 0
    )


def _pick_unpaced(*, now: datetime, limit: int) -> list[tuple[uuid.UUID, datetime | None]]:
    """No rate limit: the oldest due rows, skipping paused sessions and extra probes.

    Paused and probing sessions are kept out in SQL, not after the fact: a disconnected
    session's backlog at the head of the queue must not fill every claim and starve the
    healthy sessions behind it.
    """
    due = _due(now)
    # Read without a lock: the pause is advisory and two claimers may each send one probe.
    troubled = list(
        QueueSessionState.objects.filter(
            Q(paused_until__gt=now) | Q(consecutive_failures__gt=0)
        ).values_list("session_id", "paused_until", "consecutive_failures")
    )
    paused = {s for s, until, _ in troubled if until and until > now}
    probing = {s for s, _, failures in troubled if failures > 0}
    # Sessions stored disconnected that have due rows (few; each EXISTS uses the session index).
    probing |= set(
        WhatsAppSession.objects.filter(status=WhatsAppSession.Status.DISCONNECTED)
        .filter(Exists(due.filter(session_id=OuterRef("pk"))))
        .values_list("id", flat=True)
    )
    probing -= paused
    taken: list[tuple[uuid.UUID, datetime | None]] = []
    for session_id in probing:
        if len(taken) >= limit:
            break
        probe = (
            due.filter(session_id=session_id)
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", flat=True)
            .first()
        )
        if probe is not None:
            taken.append((probe, None))
    room = limit - len(taken)
    if room > 0:
        rows = (
            due.exclude(session_id__in=paused | probing)
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("id", flat=True)[:room]
        )
        taken.extend((row_id, None) for row_id in rows)
    return taken


def _pick_paced(*, now: datetime, limit: int, rate: int) -> list[tuple[uuid.UUID, datetime]]:
    """Per-session rate limit: each session gets the slots that fall within the horizon.

    Slots live in queue_session_states and are handed out under the state row's lock, so the
    limit holds across every worker process. A session whose state another claimer holds right
    now is skipped this round rather than waited for. Looking at each session separately keeps
    one big campaign from starving the other sessions.
    """
    session_ids = set(_due(now).order_by().values_list("session_id", flat=True).distinct())
    if not session_ids:
        return []
    known = set(
        QueueSessionState.objects.filter(session_id__in=session_ids).values_list(
            "session_id", flat=True
        )
    )
    if session_ids - known:
        _ensure_session_states(session_ids - known)
    states = list(
        QueueSessionState.objects.filter(session_id__in=session_ids)
        .select_for_update(skip_locked=True)
        .order_by(F("next_slot_at").asc(nulls_first=True))
    )
    statuses = dict(
        WhatsAppSession.objects.filter(id__in=[s.session_id for s in states]).values_list(
            "id", "status"
        )
    )
    interval = 60.0 / rate
    horizon_end = now + _horizon()
    taken: list[tuple[uuid.UUID, datetime]] = []
    for state in states:
        room = limit - len(taken)
        if room <= 0:
            break
        if _paused(state, now):
            continue
        if _probing(state, statuses.get(state.session_id, "")):
            room = 1
        # The free slots of this session, then the one after the last.
        slots = [max(state.next_slot_at or now, now)]
        while len(slots) <= room and slots[-1] <= horizon_end:
            # Jitter only lengthens the gap, so the limit holds even at its fastest.
            slots.append(slots[-1] + timedelta(seconds=interval * random.uniform(1.0, 1.25)))
        usable = [slot for slot in slots[:room] if slot <= horizon_end]
        if not usable:
            continue
        row_ids = list(
            _due(now)
            .filter(session_id=state.session_id)
            .order_by("next_attempt_at")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[: len(usable)]
        )
        if not row_ids:
            continue
        taken.extend(zip(row_ids, usable, strict=False))
        state.next_slot_at = slots[len(row_ids)]
        state.save(update_fields=["next_slot_at"])
    return taken


# --- sending -----------------------------------------------------------------------------------


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


def queue_send_claimed(
    *, token: str, row_ids: Iterable[Any], gateway: Gateway | None = None
) -> SendSummary:
    """Send the rows of one claim, each at its rate-limit slot, and record every answer."""
    summary = SendSummary()
    rows = list(
        Msg.objects.filter(
            id__in=list(row_ids),
            claimed_by=token,
            status=Msg.Status.SENDING,
            call_started_at__isnull=True,  # a redelivered task never repeats a started call
        )
        .select_related("session", "campaign_group")
        .order_by("send_after", "next_attempt_at")
    )
    if not rows:
        return summary
    gateway = gateway or get_gateway()
    recovered: set[Any] = set()
    paused: set[Any] = set()
    for row in rows:
        if row.session_id in paused:
            # Its session just answered "not connected": hand the row back untried.
            summary.add(row.id, _defer(row=row, token=token))
            continue
        if row.send_after:
            wait = (row.send_after - timezone.now()).total_seconds()
            if wait > 0:
                time.sleep(min(wait, _horizon().total_seconds()))
        outcome, session_paused = _send_one(row=row, token=token, gateway=gateway)
        summary.add(row.id, outcome)
        if session_paused:
            paused.add(row.session_id)
        if outcome == "sent" and row.session_id not in recovered:
            recovered.add(row.session_id)
            QueueSessionState.objects.filter(
                session_id=row.session_id, consecutive_failures__gt=0
            ).update(consecutive_failures=0, paused_until=None)
    return summary


def _fenced(row: Msg, token: str, statuses: tuple[str, ...] = (Msg.Status.SENDING,)) -> Any:
    return Msg.objects.filter(id=row.id, claimed_by=token, attempt=row.attempt, status__in=statuses)


# Answers about the session rather than the message: pause the session's other rows.
_PAUSING_CODES = ("not_connected", "rate_limited", "unauthorized")
# Failures worth showing on the session's card (its last_error).
_SESSION_NOTED_CODES = ("not_connected", "unauthorized")
# A worker may still record what it learned after the reaper judged its attempt "unknown".
_RECORDABLE = (Msg.Status.SENDING, Msg.Status.NEEDS_REVIEW)


def _defer(*, row: Msg, token: str) -> str:
    now = timezone.now()
    released = Msg.objects.filter(
        id=row.id,
        claimed_by=token,
        attempt=row.attempt,
        status=Msg.Status.SENDING,
        call_started_at__isnull=True,
    ).update(status=Msg.Status.PENDING, next_attempt_at=now, lease_until=None, updated_at=now)
    return "deferred" if released else "lost"


def _send_one(*, row: Msg, token: str, gateway: Gateway) -> tuple[str, bool]:
    """(outcome, whether the session is now paused)."""
    now = timezone.now()
    started = Msg.objects.filter(
        id=row.id,
        claimed_by=token,
        attempt=row.attempt,
        status=Msg.Status.SENDING,
        call_started_at__isnull=True,
        lease_until__gt=now,
    ).update(call_started_at=now, lease_until=now + _call_lease(), updated_at=now)
    if not started:
        return "lost", False
    try:
        message_id = gateway.send_message(
            session_id=row.session.session_id,
            to=row.recipient_jid,
            message=row.message,
            client_message_id=str(row.client_message_id),
        )
    except GatewayError as exc:
        outcome = _with_db_retry(partial(_record_failure, row=row, token=token, exc=exc))
        return outcome, exc.code in _PAUSING_CODES
    return _with_db_retry(partial(_record_sent, row=row, token=token, message_id=message_id)), False


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


def _lock_message_id(message_id: str) -> None:
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


def _record_sent(*, row: Msg, token: str, message_id: str) -> str:
    now = timezone.now()
    with transaction.atomic():
        _lock_message_id(message_id)
        kept_errors = list(
            WebhookEvent.objects.select_for_update().filter(
                source=MESSAGE_ERROR_SOURCE,
                outcome=WebhookEvent.Outcome.PENDING,
                reference=message_id,
                session_id=row.session.session_id,
            )
        )
        error = ""
        if kept_errors:
            payload = kept_errors[0].payload or {}
            error = message_error_text(
                code=payload.get("errorCode", ""), message=str(payload.get("errorMessage", ""))
            )
        status = Msg.Status.FAILED if error else Msg.Status.SENT
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
        if kept_errors:
            WebhookEvent.objects.filter(id__in=[e.id for e in kept_errors]).update(
                outcome=WebhookEvent.Outcome.APPLIED,
                applied_at=now,
                detail=f"applied when the send of row {row.id} was recorded",
            )
        if row.campaign_group_id:
            _group_update(
                row=row,
                status=GroupRow.Status.FAILED if error else GroupRow.Status.SENT,
                message_id=message_id,
                error_message=error,
                sent_at=now,
                now=now,
            )
    return "failed" if error else "sent"


def _record_failure(*, row: Msg, token: str, exc: GatewayError) -> str:
    now = timezone.now()
    max_retries = int(settings.QUEUE_MAX_RETRIES)
    vps_error = _body_text(exc.body)
    group_status: str | None = None
    if exc.permanent:
        outcome, status = "failed", Msg.Status.FAILED
        error = exc.message
        fields: dict[str, Any] = {}
        group_status = GroupRow.Status.FAILED
    elif exc.ambiguous:
        if settings.GATEWAY_SEND_IDEMPOTENT and row.retry_count < max_retries:
            # The gateway de-duplicates by clientMessageId, so the same id may be sent again.
            outcome, status = "retrying", Msg.Status.PENDING
            error = f"{exc.message} Retrying with the same clientMessageId."
            fields = {
                "retry_count": row.retry_count + 1,
                "next_attempt_at": now + retry_delay(row.retry_count + 1),
            }
        else:
            outcome, status = "needs_review", Msg.Status.NEEDS_REVIEW
            error = (
                f"{exc.message} The message may have been sent: check WhatsApp, then mark it "
                "sent or failed."
            )
            fields = {}
    elif row.retry_count >= max_retries:
        outcome, status = "failed", Msg.Status.FAILED
        error = f"Gave up after {row.retry_count + 1} attempts: {exc.message}"
        fields = {}
        group_status = GroupRow.Status.FAILED
    else:
        # Not connected, refused, rate-limited: the gateway certainly did not send it.
        outcome, status = "retrying", Msg.Status.PENDING
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
            if status == Msg.Status.PENDING:
                group_error = (
                    f"Retry {fields['retry_count']}/{max_retries} "
                    f"at {timezone.localtime(fields['next_attempt_at']):%H:%M:%S}: {exc.message}"
                )
            elif status == Msg.Status.NEEDS_REVIEW:
                group_error = f"Needs review: {exc.message}"
            _group_update(
                row=row,
                status=group_status or GroupRow.Status.PENDING,
                error_message=group_error,
                now=now,
            )
        if exc.code in _PAUSING_CODES:
            _session_pause(session_id=row.session_id, now=now)

    if exc.code in _SESSION_NOTED_CODES:
        _session_note_error(session=row.session, error=exc.message)
    return outcome


def _session_pause(*, session_id: Any, now: datetime) -> None:
    _ensure_session_state(session_id)
    state = QueueSessionState.objects.select_for_update().get(session_id=session_id)
    state.consecutive_failures += 1
    state.paused_until = now + retry_delay(state.consecutive_failures)
    state.save(update_fields=["consecutive_failures", "paused_until"])


def _session_note_error(*, session: WhatsAppSession, error: str) -> None:
    """Show the gateway's complaint on the session (sessions_app owns how)."""
    try:
        from sessions_app.services import session_mark_error
    except ImportError:
        session_mark_error = None
    try:
        if session_mark_error is not None:
            session_mark_error(session=session, error=error)
        else:  # until sessions_app provides it
            WhatsAppSession.objects.filter(id=session.id).update(
                last_error=error, last_error_at=timezone.now()
            )
    except Exception:
        # The queue row is already recorded correctly; a failed status note must not undo that.
        logger.exception("could not record the error on session %s", session.session_id)


def _group_update(
    *,
    row: Msg,
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
    GroupRow.objects.filter(id=row.campaign_group_id).update(**fields)
    if status != GroupRow.Status.PENDING or message_id is not None:
        campaign_id = (
            row.campaign_group.campaign_id
            if row.campaign_group is not None
            else GroupRow.objects.values_list("campaign_id", flat=True).get(
                id=row.campaign_group_id
            )
        )
        _campaign_recount(campaign_id=campaign_id, now=now)


# --- reaping and passes ------------------------------------------------------------------------


@dataclass
class ReapResult:
    returned: int = 0  # claims that never called the gateway, back to pending
    needs_review: int = 0  # claims that died during the call
    retried: int = 0  # … retried with the same clientMessageId (idempotent gateway)


def queue_reap(*, now: datetime | None = None) -> ReapResult:
    now = _now(now)
    result = ReapResult()
    expired = Msg.objects.filter(status=Msg.Status.SENDING, lease_until__lt=now)
    # Each UPDATE re-checks its WHERE on the locked row, so a worker that starts its call or
    # records an answer at the same moment wins or loses cleanly (docs/reliability.md).
    result.returned = expired.filter(call_started_at__isnull=True).update(
        status=Msg.Status.PENDING,
        next_attempt_at=now,
        lease_until=None,
        error_message="The worker holding this message stopped before calling the gateway; "
        "queued again.",
        updated_at=now,
    )
    started = expired.filter(call_started_at__isnull=False)
    if settings.GATEWAY_SEND_IDEMPOTENT:
        result.retried = started.filter(retry_count__lt=settings.QUEUE_MAX_RETRIES).update(
            status=Msg.Status.PENDING,
            retry_count=F("retry_count") + 1,
            next_attempt_at=now,
            lease_until=None,
            error_message="The worker stopped during the gateway call; retrying with the same "
            "clientMessageId (the gateway de-duplicates).",
            updated_at=now,
        )
    reviewed_ids = list(started.values_list("id", flat=True))
    if reviewed_ids:
        with transaction.atomic():
            rows = list(
                Msg.objects.select_for_update(of=("self",))
                .filter(id__in=reviewed_ids, status=Msg.Status.SENDING, lease_until__lt=now)
                .exclude(call_started_at=None)
                .select_related("campaign_group")
                .order_by("id")
            )
            error = (
                "The worker stopped during the gateway call, so the message may have been sent. "
                "Check WhatsApp, then mark it sent or failed."
            )
            Msg.objects.filter(id__in=[r.id for r in rows]).update(
                status=Msg.Status.NEEDS_REVIEW,
                lease_until=None,
                error_message=error,
                updated_at=now,
            )
            for row in rows:
                if row.campaign_group_id:
                    _group_update(
                        row=row,
                        status=GroupRow.Status.PENDING,
                        error_message="Needs review: the worker stopped during the gateway call.",
                        now=now,
                    )
            result.needs_review = len(rows)
    return result


def queue_process_once(
    *,
    limit: int | None = None,
    max_batches: int = 1000,
    now: datetime | None = None,
    reap: bool = True,
) -> SendSummary:
    """One synchronous pass: reap, then claim → send → record until nothing is due."""
    summary = SendSummary()
    if reap:
        queue_reap(now=now)
    for _ in range(max_batches):
        claim = queue_claim(limit=limit, now=now)
        if not claim:
            break
        summary.merge(queue_send_claimed(token=claim.token, row_ids=claim.row_ids))
    return summary


def queue_drain(*, budget_seconds: float = 30.0, limit: int | None = None) -> SendSummary:
    """Keep claiming and sending full batches (a backlog) for up to `budget_seconds`."""
    limit = limit or settings.QUEUE_BATCH_SIZE
    summary = SendSummary()
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        claim = queue_claim(limit=limit)
        if claim:
            summary.merge(queue_send_claimed(token=claim.token, row_ids=claim.row_ids))
        if len(claim.row_ids) < limit:
            break
    return summary


# --- message errors (late 420) -----------------------------------------------------------------


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
    outcome pending, reference = message_id) and `_record_sent` applies it later.
    """
    session = WhatsAppSession.objects.filter(session_id=session_key).first()
    if session is None:
        return MessageErrorOutcome("unknown_session")
    _lock_message_id(message_id)
    row = (
        Msg.objects.select_for_update(of=("self",))
        .select_related("campaign_group")
        .filter(session=session, message_id=message_id)
        .first()
    )
    if row is None:
        return MessageErrorOutcome("pending", detail="send not recorded yet; kept")
    text = message_error_text(code=error_code, message=error_message)
    if row.status not in (Msg.Status.SENT, Msg.Status.NEEDS_REVIEW):
        return MessageErrorOutcome("unchanged", row.id, f"row is {row.status}; nothing to change")
    now = timezone.now()
    Msg.objects.filter(id=row.id).update(
        status=Msg.Status.FAILED, error_message=text, updated_at=now
    )
    if row.campaign_group_id:
        _group_update(row=row, status=GroupRow.Status.FAILED, error_message=text, now=now)
    return MessageErrorOutcome("applied", row.id, text)


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
) -> Msg:
    _check_session(organization=organization, session=session)
    jid = _clean_jid(recipient_jid)
    if not (message or "").strip():
        raise ApplicationError("The message is empty.", details={"message": "required"})
    when = scheduled_for or timezone.now()
    with transaction.atomic():
        row = Msg.objects.create(
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


def _get_locked(row: Msg) -> Msg:
    return (
        Msg.objects.select_for_update(of=("self",)).select_related("campaign_group").get(id=row.id)
    )


def scheduled_message_cancel(*, message: Msg) -> Msg:
    with transaction.atomic():
        row = _get_locked(message)
        if row.status != Msg.Status.PENDING:
            raise ApplicationError(
                f"Only pending messages can be cancelled; this one is {row.get_status_display()}.",
                details={"status": row.status},
            )
        now = timezone.now()
        row.status = Msg.Status.CANCELLED
        row.error_message = "Cancelled by staff."
        row.updated_at = now
        row.save(update_fields=["status", "error_message", "updated_at"])
        if row.campaign_group_id:
            _group_update(
                row=row, status=GroupRow.Status.FAILED, error_message="Cancelled", now=now
            )
    return row


def _requeue_fields(row: Msg, now: datetime) -> None:
    """A deliberate new send of a finished row: fresh clientMessageId, fresh retries."""
    row.status = Msg.Status.PENDING
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


def scheduled_message_retry_now(*, message: Msg) -> Msg:
    """Pending: try now instead of after the back-off. Failed/cancelled: send again."""
    with transaction.atomic():
        row = _get_locked(message)
        now = timezone.now()
        if row.status == Msg.Status.PENDING:
            row.next_attempt_at = now
            row.updated_at = now
            row.save(update_fields=["next_attempt_at", "updated_at"])
            QueueSessionState.objects.filter(session_id=row.session_id).update(paused_until=None)
        elif row.status in (Msg.Status.FAILED, Msg.Status.CANCELLED):
            _requeue_fields(row, now)
            row.save(update_fields=_REQUEUE_FIELDS)
            if row.campaign_group_id:
                GroupRow.objects.filter(id=row.campaign_group_id).update(
                    status=GroupRow.Status.PENDING,
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
                    if row.status == Msg.Status.NEEDS_REVIEW
                    else ""
                ),
                details={"status": row.status},
            )
        _kick_dispatch()
    return row


def scheduled_message_resolve(*, message: Msg, sent: bool, note: str = "") -> Msg:
    """An operator checked WhatsApp: the needs_review row was sent, or it was not."""
    with transaction.atomic():
        row = _get_locked(message)
        if row.status != Msg.Status.NEEDS_REVIEW:
            raise ApplicationError(
                f"Only messages that need review can be resolved; this one is "
                f"{row.get_status_display()}.",
                details={"status": row.status},
            )
        now = timezone.now()
        if sent:
            row.status = Msg.Status.SENT
            row.sent_at = row.sent_at or row.call_started_at or now
            row.error_message = note or "Marked sent by staff after checking WhatsApp."
        else:
            row.status = Msg.Status.FAILED
            row.error_message = note or "Marked failed by staff after checking WhatsApp."
        row.updated_at = now
        row.save(update_fields=["status", "sent_at", "error_message", "updated_at"])
        if row.campaign_group_id:
            if sent:
                _group_update(
                    row=row,
                    status=GroupRow.Status.SENT,
                    message_id=row.message_id,
                    sent_at=row.sent_at,
                    now=now,
                )
            else:
                _group_update(
                    row=row, status=GroupRow.Status.FAILED, error_message=row.error_message, now=now
                )
    return row


# --- campaigns ---------------------------------------------------------------------------------


def _campaign_recount(*, campaign_id: Any, now: datetime | None = None) -> NotificationCampaign:
    now = _now(now)
    with transaction.atomic():
        # The row lock serializes recounts of one campaign; each counts after taking it, so the
        # last one sees every committed group change and no count is lost.
        campaign = NotificationCampaign.objects.select_for_update().get(id=campaign_id)
        counts = GroupRow.objects.filter(campaign_id=campaign_id).aggregate(
            total=Count("id"),
            sent=Count("id", filter=Q(status=GroupRow.Status.SENT)),
            failed=Count("id", filter=Q(status=GroupRow.Status.FAILED)),
        )
        total, sent, failed = counts["total"], counts["sent"], counts["failed"]
        S = NotificationCampaign.Status
        if total == 0:
            status = S.DRAFT
        elif sent + failed < total:
            waiting = campaign.scheduled_for > now and sent == 0
            status = S.SCHEDULED if waiting and campaign.status == S.SCHEDULED else S.SENDING
        elif failed == 0:
            status = S.SENT
        elif sent == 0:
            status = S.FAILED
        else:
            status = S.PARTIAL_FAILURE
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
        group_rows = GroupRow.objects.bulk_create(
            [
                GroupRow(
                    campaign=campaign,
                    group=g,
                    group_jid=g.group_jid,
                    group_name=g.group_name,
                    updated_at=now,
                )
                for g in sorted(groups, key=lambda g: (g.group_name.lower(), g.group_jid))
            ]
        )
        Msg.objects.bulk_create(
            [
                Msg(
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
            Msg.objects.select_for_update(of=("self",))
            .filter(
                campaign_group__campaign_id=campaign.id,
                status__in=(Msg.Status.FAILED, Msg.Status.CANCELLED),
            )
            .order_by("id")
        )
        for row in rows:
            _requeue_fields(row, now)
        Msg.objects.bulk_update(rows, _REQUEUE_FIELDS)
        GroupRow.objects.filter(id__in=[r.campaign_group_id for r in rows]).update(
            status=GroupRow.Status.PENDING,
            message_id="",
            error_message="",
            sent_at=None,
            updated_at=now,
        )
        _campaign_recount(campaign_id=campaign.id, now=now)
        if rows:
            _kick_dispatch()
    return len(rows)
