"""Leases: how long a claim holds its rows, and the heartbeat that keeps a live worker's claim.

Rules:
- A claimed row is held for the claim's lookahead plus QUEUE_LEASE_SECONDS (15 s by default).
  While its worker lives, a heartbeat thread renews that lease, every third of it, for the rows
  of the batch whose gateway call has not started. A dead worker stops renewing, so its untouched
  rows are reaped back to `pending` within one lease plus one reaper run (the reaper runs with
  every dispatch, every QUEUE_DISPATCH_INTERVAL_SECONDS): under 30 s with the defaults.
- A row whose gateway call started is never renewed: its lease was set at the call start to the
  call's deadline plus CALL_LEASE_MARGIN_SECONDS (`call_lease`). The gateway client ends every
  call by its deadline, wall time (GATEWAY_TIMEOUT_SECONDS, whatsapp_crm/call_deadline.py), so a
  live worker always has its answer before that lease ends: the reaper only ever judges a dead
  or frozen worker's call, and a person cannot resolve a row while its call may still be running
  (services.scheduled_message_resolve refuses while the lease holds).
- A heartbeat renews only leases that still hold (an expired claim is forfeit to the reaper), and
  stops renewing when its batch made no progress for longer than one row can take: a frozen
  worker loses its rows like a dead one.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from campaigns_app.models import ScheduledWhatsAppMessage
from campaigns_app.queue.common import claim_lookahead, lease_duration

logger = logging.getLogger(__name__)

MessageStatus = ScheduledWhatsAppMessage.Status
# Time after the call's deadline for the worker to record the answer (one short transaction).
CALL_LEASE_MARGIN_SECONDS = 5.0


def call_deadline_seconds(gateway: Any = None) -> float:
    """The longest a gateway call can last: the client's own deadline (VpsGateway.timeout)."""
    timeout = getattr(gateway, "timeout", None)
    return float(timeout if timeout is not None else settings.GATEWAY_TIMEOUT_SECONDS)


def call_lease(gateway: Any = None) -> timedelta:
    """The lease of a row whose call starts now: always longer than the call can last."""
    return timedelta(seconds=call_deadline_seconds(gateway) + CALL_LEASE_MARGIN_SECONDS)


def lease_renew(*, token: str, now: datetime | None = None) -> int:
    """Extend the lease of this claim's rows that are waiting for their call (one UPDATE).

    Rows whose call started keep their call lease; expired leases are not revived; a lease
    that already reaches further (the claim's lookahead) is left alone.
    """
    now = now or timezone.now()
    until = now + lease_duration()
    return ScheduledWhatsAppMessage.objects.filter(
        claimed_by=token,
        status=MessageStatus.SENDING,
        call_started_at__isnull=True,
        lease_until__gt=now,
        lease_until__lt=until,
    ).update(lease_until=until)


class ClaimHeartbeat:
    """`with ClaimHeartbeat(token, gateway=…) as heartbeat:` renews the claim's leases from a
    background thread while the block runs; call `heartbeat.progress()` after each row."""

    def __init__(self, token: str, *, gateway: Any = None) -> None:
        self.token = token
        self.interval = max(0.2, lease_duration().total_seconds() / 3)
        # One row: its rate-limit wait, its call, recording the answer; then the lease runs out.
        self.stall_after = (
            claim_lookahead().total_seconds()
            + call_lease(gateway).total_seconds()
            + lease_duration().total_seconds()
        )
        self.renewals = 0
        self._last_progress = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-heartbeat-{token}", daemon=True
        )

    def __enter__(self) -> ClaimHeartbeat:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def progress(self) -> None:
        self._last_progress = time.monotonic()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                if time.monotonic() - self._last_progress > self.stall_after:
                    logger.warning(
                        "claim %s made no progress for %.0f s; no longer renewing its lease",
                        self.token,
                        self.stall_after,
                    )
                    return
                try:
                    lease_renew(token=self.token)
                    self.renewals += 1
                except DatabaseError:
                    # The next beat tries again; if none succeeds the rows are reaped (safe).
                    logger.warning("renewing the lease of claim %s failed", self.token)
                    connection.close()
        finally:
            connection.close()  # this thread's own connection
