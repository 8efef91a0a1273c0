"""Queue throughput through the whole path (claim → send → record) with 2 real Celery workers.

Set-up: the gateway simulator answering instantly, Postgres from DATABASE_URL, Redis as the
broker (BENCH_CELERY_BROKER_URL, default redis://127.0.0.1:6379/3), two
`celery -A whatsapp_crm worker --pool solo -c 1` processes, per-session rate limit off.

Our design: beat (simulated: a `queue_dispatch` every second) claims batches with
SKIP LOCKED and hands them to `queue_send_batch`, which keeps draining while there is a backlog.
Naive design, same run, same workers: one `.delay(row_id)` task per row that loads the row,
sends it and saves it as sent (no claim, no fence). Duplicate sends are counted from the
simulator's log of /send calls (clientMessageId seen more than once).

    BENCH_QUEUE_ROWS=2000 .venv/bin/python -m bench queue
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

from celery import shared_task

from bench.common import Row, django_setup

ROOT = Path(__file__).resolve().parents[1]
TARGET_MSG_S = 200.0


@shared_task(name="bench.naive_send_row", ignore_result=True)
def naive_send_row(row_id: str) -> None:
    """The naive design: one task per row, send, save. (Runs inside the bench workers.)"""
    from django.utils import timezone

    from campaigns_app.models import ScheduledWhatsAppMessage
    from gateways_app.clients import gateway_for

    row = ScheduledWhatsAppMessage.objects.select_related("session").get(id=row_id)
    message_id = gateway_for(row.session).send_message(
        session_id=row.session.session_id,
        to=row.recipient_jid,
        message=row.message,
        client_message_id=str(row.client_message_id),
    )
    row.status = "sent"
    row.message_id = message_id
    row.sent_at = timezone.now()
    row.save(update_fields=["status", "message_id", "sent_at"])


def _worker_env(*, sim_url: str, broker: str) -> dict[str, str]:
    from django.conf import settings

    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="whatsapp_crm.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-secret-key",
        GATEWAY_API_KEY=settings.GATEWAY_API_KEY,
        WEBHOOK_API_KEY="bench-webhook-key",
        GATEWAY_URL=sim_url,
        CELERY_BROKER_URL=broker,
        QUEUE_SESSION_RATE_PER_MINUTE="0",
        QUEUE_BATCH_SIZE="50",
        QUEUE_DISPATCH_INTERVAL_SECONDS="1",
        DJANGO_LOG_LEVEL="WARNING",
    )
    return env


def _start_workers(env: dict[str, str], count: int = 2) -> list[subprocess.Popen]:
    workers = []
    for i in range(count):
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "whatsapp_crm",
                    "worker",
                    "--pool",
                    "solo",
                    "-c",
                    "1",
                    "-I",
                    "bench.bench_queue",
                    "-n",
                    f"bench-queue-{i}-{uuid.uuid4().hex[:6]}@%h",
                    "--without-gossip",
                    "--without-mingle",
                    "--loglevel",
                    "WARNING",
                ],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        )
    return workers


def _stop_workers(workers: list[subprocess.Popen]) -> None:
    for proc in workers:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in workers:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _wait_ready(app, workers: list[subprocess.Popen], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for proc in workers:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"a bench worker exited: {err[-2000:]}")
        replies = app.control.ping(timeout=1.0) or []
        if len(replies) >= len(workers):
            return
    raise RuntimeError("bench workers did not answer a ping in time")


def _make_rows(*, organization, session, count: int) -> list[str]:
    from django.utils import timezone

    from campaigns_app.models import ScheduledWhatsAppMessage

    now = timezone.now()
    rows = [
        ScheduledWhatsAppMessage(
            organization=organization,
            session=session,
            recipient_jid=f"1203630{i:011d}@g.us",
            message=f"bench message {i}",
            scheduled_for=now,
            next_attempt_at=now,
        )
        for i in range(count)
    ]
    ScheduledWhatsAppMessage.objects.bulk_create(rows, batch_size=1000)
    return [str(r.id) for r in rows]


def _wait_final(session, count: int, *, tick=None, timeout: float = 300.0) -> float:
    """Seconds until every row of `session` is final; `tick()` runs every second (beat)."""
    from campaigns_app.models import ScheduledWhatsAppMessage

    final = ("sent", "failed", "needs_review", "cancelled")
    start = time.perf_counter()
    next_tick = start
    while time.perf_counter() - start < timeout:
        if tick and time.perf_counter() >= next_tick:
            tick()
            next_tick += 1.0
        done = ScheduledWhatsAppMessage.objects.filter(session=session, status__in=final).count()
        if done >= count:
            return time.perf_counter() - start
        time.sleep(0.05)
    raise RuntimeError(f"{count} rows not final within {timeout:.0f} s")


def _duplicates(sim, session_id: str) -> tuple[int, int]:
    per_id = Counter(s["clientMessageId"] for s in sim.sends() if s["sessionId"] == session_id)
    return sum(n - 1 for n in per_id.values() if n > 1), sum(per_id.values())


def run() -> list[Row]:
    django_setup()
    from celery import Celery
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from kombu import Connection

    from campaigns_app.models import ScheduledWhatsAppMessage
    from gateway_simulator import GatewaySimulator
    from tests import factories

    if connection.vendor != "postgresql":
        raise RuntimeError("bench_queue needs Postgres: set DATABASE_URL=postgres://…")
    call_command("migrate", verbosity=0)
    count = int(os.environ.get("BENCH_QUEUE_ROWS", "2000"))
    broker = os.environ.get("BENCH_CELERY_BROKER_URL", "redis://127.0.0.1:6379/3")

    with Connection(broker) as conn:  # leftovers of an earlier, interrupted run
        conn.default_channel.queue_purge("celery")
    app = Celery("bench-queue", broker=broker)
    app.conf.update(task_serializer="json", accept_content=["json"])

    sim = GatewaySimulator(port=0, api_key=settings.GATEWAY_API_KEY, connect_after=0).start()
    organization = factories.organization_create(name=f"bench-queue-{uuid.uuid4().hex[:8]}")
    ours = factories.session_create(
        organization=organization, session_id=f"wa_demo_bench_{uuid.uuid4().hex[:8]}"
    )
    naive = factories.session_create(
        organization=organization, session_id=f"wa_demo_bench_{uuid.uuid4().hex[:8]}"
    )
    workers = _start_workers(_worker_env(sim_url=sim.url, broker=broker))
    try:
        _wait_ready(app, workers)

        _make_rows(organization=organization, session=ours, count=count)
        ours_seconds = _wait_final(
            ours, count, tick=lambda: app.send_task("campaigns_app.tasks.queue_dispatch")
        )
        ours_dups, ours_sends = _duplicates(sim, ours.session_id)
        ours_sent = ScheduledWhatsAppMessage.objects.filter(session=ours, status="sent").count()

        naive_ids = _make_rows(organization=organization, session=naive, count=count)
        start = time.perf_counter()
        for row_id in naive_ids:
            app.send_task("bench.naive_send_row", args=[row_id])
        _wait_final(naive, count)
        naive_seconds = time.perf_counter() - start  # enqueueing is part of that design
        naive_dups, _ = _duplicates(sim, naive.session_id)
    finally:
        _stop_workers(workers)
        sim.stop()
        organization.delete()

    ours_rate = count / ours_seconds
    naive_rate = count / naive_seconds
    return [
        Row(
            "queue",
            f"{count} msgs, 2 Celery workers: claim→send→record",
            ours_rate,
            "msg/s",
            naive=naive_rate,
            target=f"≥ {TARGET_MSG_S:.0f} msg/s",
            ok=ours_rate >= TARGET_MSG_S and ours_sent == count,
            higher_is_better=True,
        ),
        Row(
            "queue",
            "duplicate sends (simulator log)",
            float(ours_dups),
            "sends",
            naive=float(naive_dups),
            target="0",
            ok=ours_dups == 0 and ours_sends == count,
        ),
    ]
