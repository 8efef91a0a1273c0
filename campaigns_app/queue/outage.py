"""Gateway outages: an unreachable gateway pauses its sessions; it never fails their rows.

Rules:
- An `unreachable` answer (connection refused, connect timeout, unknown host, no route:
  `GatewayError.unreachable`, the request certainly never reached the gateway) says nothing
  about the message. Its row goes back to `pending` with retry_count unchanged, due when the
  pause ends, and every session of that gateway is paused (`outage_pause`). A row fails only for
  its own reasons.
- The pause is per gateway: a gateway is named by its row id (`whatsapp_sessions.gateway_id`,
  INTERFACE §3), None for the default gateway of the environment. Every queue state of the
  gateway's sessions is paused, including those of sessions with rows waiting that had none yet;
  sessions of other gateways go on sending (`_gateway_states`, `_gateway_session_ids`).
- While paused nothing of those sessions is claimed; then each sends one probe row at a time
  (the claim's rule for consecutive_failures > 0), and the first probe of a batch that finds
  the gateway still down hands the rest of the batch back untried. Pauses grow like the retry
  back-off but never beyond OUTAGE_PROBE_MAX_SECONDS, so sending resumes within a minute of the
  gateway's return, however long it was away.
- `unreachable_since` on each paused session's state is when the outage began (the first
  unreachable answer; later ones keep it), for "Gateway unreachable since 10:02 — N messages
  waiting" (campaigns_app.selectors.queue_outages).
- Any other answer (a success, a 503, a 4xx, even an ambiguous one) proves the gateway
  reachable: the outage ends for every session of it — pause, probe mode and unreachable_since are
  cleared (`gateway_reached`, at most once per batch). A session that is itself not connected
  is paused again by its own next 503.
- State rows are locked in primary-key order, so concurrent pauses and recoveries cannot
  deadlock each other.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F, Max, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Greatest

from campaigns_app.models import QueueSessionState, ScheduledWhatsAppMessage
from campaigns_app.queue.common import retry_delay, session_states_ensure
from sessions_app.models import WhatsAppSession

MessageStatus = ScheduledWhatsAppMessage.Status
# The longest pause between probes of an unreachable gateway.
OUTAGE_PROBE_MAX_SECONDS = 60.0


def _gateway_sessions(gateway_id: Any) -> QuerySet[WhatsAppSession]:
    """The sessions of one gateway (a row id; None: the default gateway)."""
    return WhatsAppSession.objects.filter(gateway_id=gateway_id).values("pk")


def _gateway_states(gateway_id: Any = None) -> QuerySet[QueueSessionState]:
    """The queue states of the gateway's sessions (a subquery: only state rows get locked)."""
    return QueueSessionState.objects.filter(session_id__in=_gateway_sessions(gateway_id))


def _gateway_session_ids(gateway_id: Any = None) -> list[Any]:
    """Sessions of the gateway with rows waiting or in flight (their states must exist)."""
    return list(
        ScheduledWhatsAppMessage.objects.filter(
            status__in=(MessageStatus.PENDING, MessageStatus.SENDING),
            session_id__in=_gateway_sessions(gateway_id),
        )
        .order_by()
        .values_list("session_id", flat=True)
        .distinct()
    )


def outage_pause(*, now: datetime, gateway_id: Any = None) -> datetime:
    """Pause every session of the gateway after an unreachable answer; returns the pause's end."""
    session_states_ensure(_gateway_session_ids(gateway_id))
    with transaction.atomic():
        states = _gateway_states(gateway_id)
        list(states.select_for_update().order_by("pk").values_list("pk", flat=True))
        failures = (
            states.filter(unreachable_since__isnull=False).aggregate(n=Max("consecutive_failures"))[
                "n"
            ]
            or 0
        ) + 1
        pause = min(retry_delay(failures), timedelta(seconds=OUTAGE_PROBE_MAX_SECONDS))
        until = now + pause
        # A longer pause (a session's own 503 back-off) is kept.
        states.filter(Q(paused_until__isnull=True) | Q(paused_until__lt=until)).update(
            paused_until=until
        )
        states.update(
            consecutive_failures=Greatest(F("consecutive_failures"), Value(failures)),
            unreachable_since=Coalesce(F("unreachable_since"), Value(now)),
        )
    return until


def gateway_reached(*, gateway_id: Any = None) -> int:
    """The gateway answered: end the outage of its sessions. Returns how many were paused."""
    states = _gateway_states(gateway_id).filter(unreachable_since__isnull=False)
    if not states.exists():
        return 0
    with transaction.atomic():
        list(states.select_for_update().order_by("pk").values_list("pk", flat=True))
        return states.update(unreachable_since=None, paused_until=None, consecutive_failures=0)
