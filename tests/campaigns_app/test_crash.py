"""Worker crashes and concurrent workers, with real processes against the gateway simulator.

Workers are forked processes with their own database connections; SIGKILL leaves no chance to
clean up, exactly like an OOM kill. Postgres only: SKIP LOCKED and real concurrent writers.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from campaigns_app import queue
from campaigns_app.models import ScheduledWhatsAppMessage
from tests.campaigns_app.conftest import in_thread, later, message_create, status_of
from tests.helpers import wait_for

FORK = multiprocessing.get_context("fork")

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _send_claimed(token: str, row_ids: list[str]) -> None:
    queue.queue_send_claimed(token=token, row_ids=row_ids)


def _claim_and_hang(limit: int) -> None:
    queue.queue_claim(limit=limit)
    time.sleep(120)  # killed here: after the claim's commit, before any gateway call


def _process_queue(limit: int) -> None:
    queue.queue_process_once(limit=limit)


def start_worker(target, *args) -> multiprocessing.Process:
    connections.close_all()  # the child must open its own connection
    process = FORK.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def kill(process: multiprocessing.Process) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.join(5)
    assert process.exitcode == -signal.SIGKILL


@pytest.fixture
def simulator(gateway_simulator, gateway_session):
    gateway_simulator.connect(gateway_session.session_id)
    return gateway_simulator


def test_it_puts_a_row_up_for_review_when_the_worker_dies_during_the_call(
    simulator, gateway_session
):
    # The simulator holds the first /send for 1.5 s, then performs it.
    simulator.add_failure(path=r"^/send$", method="POST", status=None, delay=1.5, times=1)
    row = message_create(session=gateway_session)
    claim = queue.queue_claim()
    worker = start_worker(_send_claimed, claim.token, [str(i) for i in claim.row_ids])

    wait_for(
        lambda: ScheduledWhatsAppMessage.objects.filter(
            id=row.id, call_started_at__isnull=False
        ).exists()
    )
    simulator.wait_for_request(r"^/send$", method="POST")  # inside the gateway call
    kill(worker)

    wait_for(lambda: len(simulator.sends()) == 1, timeout=5)  # WhatsApp got it
    assert status_of(row) == "sending"
    queue.queue_process_once()  # the lease still holds: nobody touches the row
    assert status_of(row) == "sending"

    assert queue.queue_reap(now=later()).needs_review == 1
    queue.queue_process_once(now=later())

    assert status_of(row) == "needs_review"
    assert len(simulator.sends()) == 1


def test_it_sends_once_after_the_lease_when_the_worker_dies_before_the_call(
    simulator, gateway_session
):
    rows = [message_create(session=gateway_session) for _ in range(3)]
    worker = start_worker(_claim_and_hang, 10)
    wait_for(lambda: ScheduledWhatsAppMessage.objects.filter(status="sending").count() == 3)
    kill(worker)

    queue.queue_process_once()  # leases still hold
    assert simulator.sends() == []
    assert queue.queue_reap(now=later()).returned == 3
    queue.queue_process_once(now=later())

    assert [status_of(r) for r in rows] == ["sent"] * 3
    sends = simulator.sends()
    assert sorted(s["clientMessageId"] for s in sends) == sorted(
        str(r.client_message_id) for r in rows
    )


def test_it_sends_the_untouched_rest_of_a_batch_once_after_a_crash_mid_batch(
    simulator, gateway_session
):
    rows = [message_create(session=gateway_session) for _ in range(3)]
    simulator.add_failure(path=r"^/send$", method="POST", status=None, delay=1.5, times=1)
    claim = queue.queue_claim()
    worker = start_worker(_send_claimed, claim.token, [str(i) for i in claim.row_ids])
    wait_for(
        lambda: ScheduledWhatsAppMessage.objects.filter(call_started_at__isnull=False).exists()
    )
    simulator.wait_for_request(r"^/send$", method="POST")  # inside the gateway call
    kill(worker)
    wait_for(lambda: len(simulator.sends()) == 1, timeout=5)

    queue.queue_reap(now=later())
    queue.queue_process_once(now=later())

    statuses = Counter(status_of(r) for r in rows)
    assert statuses == {"needs_review": 1, "sent": 2}
    per_row = Counter(s["clientMessageId"] for s in simulator.sends())
    assert sorted(per_row.values()) == [1, 1, 1]


@pytest.mark.parametrize("claimers", [2, 4])
def test_it_never_gives_a_row_to_two_concurrent_claimers(gateway_session, claimers):
    rows = [message_create(session=gateway_session) for _ in range(240)]
    barrier = threading.Barrier(claimers)

    def claim_all() -> list:
        barrier.wait()
        taken = []
        while claim := queue.queue_claim(limit=7):
            taken.extend(claim.row_ids)
        return taken

    with ThreadPoolExecutor(claimers) as pool:
        results = [f.result() for f in [pool.submit(in_thread(claim_all)) for _ in range(claimers)]]

    everything = [row_id for taken in results for row_id in taken]
    assert len(everything) == len(set(everything)) == 240
    assert set(everything) == {r.id for r in rows}
    assert all(taken for taken in results), "every claimer got work (SKIP LOCKED, no waiting)"


def test_it_keeps_the_rate_limit_across_concurrent_claimers(settings, gateway_session):
    settings.QUEUE_SESSION_RATE_PER_MINUTE = 20  # one send every ≥ 3 s
    settings.QUEUE_DISPATCH_INTERVAL_SECONDS = 5
    for _ in range(20):
        message_create(session=gateway_session)
    barrier = threading.Barrier(4)
    now = timezone.now()

    def claim_once():
        barrier.wait()
        return queue.queue_claim(now=now).row_ids

    with ThreadPoolExecutor(4) as pool:
        claimed = [f.result() for f in [pool.submit(in_thread(claim_once)) for _ in range(4)]]
    ids = [row_id for ids in claimed for row_id in ids]
    # Three more rounds, as later dispatches would run them.
    for seconds in (5, 10, 15):
        ids += queue.queue_claim(now=now + timedelta(seconds=seconds)).row_ids

    slots = sorted(
        ScheduledWhatsAppMessage.objects.filter(id__in=ids).values_list("send_after", flat=True)
    )
    assert len(ids) == len(set(ids)) >= 4
    gaps = [(b - a).total_seconds() for a, b in zip(slots, slots[1:], strict=False)]
    assert min(gaps) >= 3.0


def test_it_sends_each_row_once_with_three_worker_processes(simulator, gateway_session):
    rows = [message_create(session=gateway_session) for _ in range(150)]
    workers = [start_worker(_process_queue, 10) for _ in range(3)]
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0

    assert Counter(status_of(r) for r in rows) == {"sent": 150}
    per_row = Counter(s["clientMessageId"] for s in simulator.sends())
    assert len(per_row) == 150 and set(per_row.values()) == {1}
