"""Step 1 of the queue: claim due rows and pace them per session.

Rules:
- `queue_claim` takes due rows (`pending`, `next_attempt_at` reached) with
  `SELECT … FOR UPDATE SKIP LOCKED` and COMMITS them as `sending` with a new claim token and
  attempt number (the fence every later write checks) before anything is sent. It must run in
  autocommit mode (not inside an outer transaction) for that to hold.
- The claim's lease covers the lookahead plus QUEUE_LEASE_SECONDS, and the worker's heartbeat
  renews it while the worker lives (queue/lease.py); `call_started_at` is reset to NULL,
  meaning "this attempt has not reached the gateway".
- With QUEUE_SESSION_RATE_PER_MINUTE > 0 each row gets a send slot (`send_after`) from its
  session's pacing row, handed out under that row's lock, never further ahead than
  `claim_lookahead()`: the limit holds across every worker.
- A paused session (it answered "not connected", rate-limited, unauthorized) gets nothing until
  `paused_until`; a session that is failing or stored disconnected gets one probe at a time.
  Both are filtered in SQL so that one session's backlog never starves the others.
"""

from __future__ import annotations

import os
import random
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, DateTimeField, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from campaigns_app.models import QueueSessionState, ScheduledWhatsAppMessage
from campaigns_app.queue.common import claim_lookahead, lease_duration, session_states_ensure
from sessions_app.models import WhatsAppSession

MessageStatus = ScheduledWhatsAppMessage.Status
_HOST = socket.gethostname()[:40]


@dataclass(frozen=True)
class Claim:
    token: str
    row_ids: list[uuid.UUID]

    def __bool__(self) -> bool:
        return bool(self.row_ids)


def _claim_token() -> str:
    return f"{_HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def queue_claim(*, limit: int | None = None, now: datetime | None = None) -> Claim:
    """Claim up to `limit` due rows for one worker and COMMIT them as `sending`.

    Must run in autocommit mode (not inside an outer transaction) for the guarantees to hold.
    """
    now = now or timezone.now()
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
        ScheduledWhatsAppMessage.objects.filter(id__in=ids).update(
            status=MessageStatus.SENDING,
            claimed_by=token,
            claimed_at=now,
            lease_until=now + claim_lookahead() + lease_duration(),
            attempt=F("attempt") + 1,
            send_after=send_after_expr,
            call_started_at=None,
            updated_at=now,
        )
    return Claim(token=token, row_ids=ids)


def _due_rows(now: datetime) -> Any:
    return ScheduledWhatsAppMessage.objects.filter(
        status=MessageStatus.PENDING, next_attempt_at__lte=now
    )


def _is_paused(state: QueueSessionState | None, now: datetime) -> bool:
    return bool(state is not None and state.paused_until and state.paused_until > now)


def _is_probing(state: QueueSessionState | None, session_status: str) -> bool:
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
    due = _due_rows(now)
    # Read without a lock: the pause is advisory and two claimers may each send one probe.
    troubled = list(
        QueueSessionState.objects.filter(
            Q(paused_until__gt=now) | Q(consecutive_failures__gt=0)
        ).values_list("session_id", "paused_until", "consecutive_failures")
    )
    paused = {session_id for session_id, until, _ in troubled if until and until > now}
    probing = {session_id for session_id, _, failures in troubled if failures > 0}
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
    """Per-session rate limit: each session gets the slots that fall within the lookahead.

    Slots live in queue_session_states and are handed out under the state row's lock, so the
    limit holds across every worker process. A session whose state another claimer holds right
    now is skipped this round rather than waited for. Looking at each session separately keeps
    one big campaign from starving the other sessions.
    """
    session_ids = set(_due_rows(now).order_by().values_list("session_id", flat=True).distinct())
    if not session_ids:
        return []
    known = set(
        QueueSessionState.objects.filter(session_id__in=session_ids).values_list(
            "session_id", flat=True
        )
    )
    if session_ids - known:
        session_states_ensure(session_ids - known)
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
    lookahead_end = now + claim_lookahead()
    taken: list[tuple[uuid.UUID, datetime]] = []
    for state in states:
        room = limit - len(taken)
        if room <= 0:
            break
        if _is_paused(state, now):
            continue
        if _is_probing(state, statuses.get(state.session_id, "")):
            room = 1
        # The free slots of this session, then the one after the last.
        slots = [max(state.next_slot_at or now, now)]
        while len(slots) <= room and slots[-1] <= lookahead_end:
            # Jitter only lengthens the gap, so the limit holds even at its fastest.
            slots.append(slots[-1] + timedelta(seconds=interval * random.uniform(1.0, 1.25)))
        usable = [slot for slot in slots[:room] if slot <= lookahead_end]
        if not usable:
            continue
        row_ids = list(
            _due_rows(now)
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
