"""What several queue steps share: the back-off, how far ahead a claim books, the pacing rows.

- `retry_delay(n)`: exponential back-off with jitter for the n-th retry, used for a row's next
  attempt and for a session's pause.
- `claim_lookahead()`: a claim books rate-limit slots at most this far ahead (one dispatch
  interval); the worker waits for each slot, so the claim's lease covers it.
- `lease_duration()`: how long a claim holds a row without a heartbeat (QUEUE_LEASE_SECONDS).
- `session_states_ensure(ids)`: the per-session pacing rows (`queue_session_states`) exist
  before anyone locks them.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings

from campaigns_app.models import QueueSessionState


def retry_delay(retry_count: int) -> timedelta:
    """Exponential back-off with jitter: base·2^(n-1), capped, times a random 0.5–1.0."""
    base = float(getattr(settings, "QUEUE_RETRY_BASE_SECONDS", 30))
    cap = float(getattr(settings, "QUEUE_RETRY_MAX_SECONDS", 900))
    delay = min(cap, base * 2 ** max(0, retry_count - 1))
    return timedelta(seconds=delay * random.uniform(0.5, 1.0))


def claim_lookahead() -> timedelta:
    """How far ahead a claim may book rate-limit slots (the worker waits for them)."""
    return timedelta(seconds=max(1.0, float(settings.QUEUE_DISPATCH_INTERVAL_SECONDS)))


def lease_duration() -> timedelta:
    """How long a claim holds its rows unless its worker's heartbeat renews it (queue/lease.py)."""
    return timedelta(seconds=float(settings.QUEUE_LEASE_SECONDS))


def session_states_ensure(session_ids: Iterable[Any]) -> None:
    """Create the pacing rows that do not exist yet. INSERT … ON CONFLICT DO NOTHING on the
    primary key (the session id) is deliberate: another worker creating the same row at the same
    moment is fine, only the row's existence matters, and the table has no other constraint."""
    QueueSessionState.objects.bulk_create(
        [QueueSessionState(session_id=session_id) for session_id in set(session_ids)],
        ignore_conflicts=True,
    )
