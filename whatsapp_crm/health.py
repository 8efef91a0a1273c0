"""Liveness and readiness (INTERFACE.md §10), and the "sends are stalled" banner.

`/healthz` says the process answers. `/readyz` checks what sending needs: the database, the
broker, and beat (the queue dispatch records a heartbeat on every tick; no tick for 3 intervals
means beat or its broker is down), and reports how long the oldest due row has waited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Min
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from whatsapp_crm.models import Heartbeat
from whatsapp_crm.text import short_text

BEAT = "beat"
# Due rows older than this make the banner say sends are stalled.
STALLED_DUE_SECONDS = 300


def heartbeat_record(name: str, *, now: datetime | None = None) -> None:
    """One small write per call: "this periodic process just ran"."""
    now = now or timezone.now()
    if not Heartbeat.objects.filter(name=name).update(at=now):
        Heartbeat.objects.get_or_create(name=name, defaults={"at": now})


def _beat_limit() -> timedelta:
    return timedelta(seconds=3 * float(settings.QUEUE_DISPATCH_INTERVAL_SECONDS))


def beat_problem(now: datetime) -> str | None:
    at = Heartbeat.objects.filter(name=BEAT).values_list("at", flat=True).first()
    if at is None:
        return "no queue dispatch has run yet: is the beat process running?"
    if now - at > _beat_limit():
        return f"no queue dispatch for {int((now - at).total_seconds())} s: is beat running?"
    return None


def oldest_due_seconds(now: datetime) -> int:
    from campaigns_app.models import ScheduledWhatsAppMessage

    oldest = ScheduledWhatsAppMessage.objects.filter(
        status=ScheduledWhatsAppMessage.Status.PENDING, next_attempt_at__lte=now
    ).aggregate(oldest=Min("next_attempt_at"))["oldest"]
    return max(0, int((now - oldest).total_seconds())) if oldest else 0


def broker_problem() -> str | None:
    from whatsapp_crm.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
    except Exception as exc:  # noqa: BLE001 — any failure means "not ready", and is reported
        return short_text(f"{type(exc).__name__}: {exc}", 200)
    return None


@dataclass
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)
    oldest_due_seconds: int | None = None

    @property
    def ok(self) -> bool:
        return all(value == "ok" for value in self.checks.values())


def readiness(*, now: datetime | None = None) -> Readiness:
    now = now or timezone.now()
    result = Readiness()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        result.checks["database"] = "ok"
        result.oldest_due_seconds = oldest_due_seconds(now)
        result.checks["beat"] = beat_problem(now) or "ok"
    except DatabaseError as exc:
        result.checks["database"] = short_text(str(exc), 200)
        result.checks["beat"] = "unknown: the database is down"
    result.checks["broker"] = broker_problem() or "ok"
    return result


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    state = readiness()
    body: dict[str, Any] = {**state.checks, "oldest_due_seconds": state.oldest_due_seconds}
    if not state.ok:
        body["failing"] = [name for name, value in state.checks.items() if value != "ok"]
    return JsonResponse(body, status=200 if state.ok else 503)


def stalled_banner(request: HttpRequest) -> dict[str, Any]:
    """Context processor: for logged-in staff, why sends are stalled (or nothing)."""
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    now = timezone.now()
    try:
        beat = beat_problem(now)
        waited = oldest_due_seconds(now)
    except DatabaseError:
        return {}
    reasons = []
    if beat:
        reasons.append(f"Sends are stalled: {beat}")
    if waited > STALLED_DUE_SECONDS:
        reasons.append(
            f"The oldest due message has waited {waited // 60} min. Check that the Celery "
            "worker and beat are running and the broker (Redis) answers, and look at the "
            "gateway's state on the Sessions page."
        )
    return {"stalled_reasons": reasons}
