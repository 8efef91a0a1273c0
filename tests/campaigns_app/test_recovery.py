"""Fast recovery from a dead worker, a deadline on every gateway call, no decision while a call
may still be running.

Real worker processes (forked, SIGKILLed) against the gateway simulator; a local socket server
that trickles its answer for the deadline; `responses` where only the HTTP edge matters.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
import responses
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from campaigns_app import queue, services, tasks
from campaigns_app.models import ScheduledWhatsAppMessage
from tests.campaigns_app.conftest import in_thread, message_create, send_url, status_of
from tests.helpers import wait_for
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.gateway import GatewayError, VpsGateway

FORK = multiprocessing.get_context("fork")
# The deployed defaults (the queue tests' conftest lengthens the lease; these tests must not).
DEFAULTS = importlib.import_module("whatsapp_crm.settings")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def production_leases(settings):
    settings.QUEUE_LEASE_SECONDS = DEFAULTS.QUEUE_LEASE_SECONDS
    settings.QUEUE_DISPATCH_INTERVAL_SECONDS = DEFAULTS.QUEUE_DISPATCH_INTERVAL_SECONDS
    settings.GATEWAY_TIMEOUT_SECONDS = DEFAULTS.GATEWAY_TIMEOUT_SECONDS
    return settings


# --- a dead worker ---------------------------------------------------------------------------


def _send_claimed(token: str, row_ids: list[str]) -> None:
    queue.queue_send_claimed(token=token, row_ids=row_ids)


def _worker_loop(interval: float, seconds: float) -> None:
    """Another worker: what beat + Celery do, a dispatch (reap, claim, send) every interval."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        queue.queue_process_once()
        time.sleep(interval)


def start_worker(target, *args) -> multiprocessing.Process:
    connections.close_all()  # the child opens its own connection
    process = FORK.Process(target=target, args=args, daemon=True)
    process.start()
    return process


def kill(process: multiprocessing.Process) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.join(5)
    assert process.exitcode == -signal.SIGKILL


@pytest.mark.postgres
def test_it_recovers_within_30_seconds_from_a_worker_killed_mid_batch(
    production_leases, gateway_simulator, gateway_session
):
    gateway_simulator.connect(gateway_session.session_id)
    rows = [message_create(session=gateway_session) for _ in range(4)]
    # The first /send is held for 2 s (then performed): the worker dies inside that call.
    gateway_simulator.add_failure(path=r"^/send$", method="POST", status=None, delay=2, times=1)
    claim = queue.queue_claim()
    assert len(claim.row_ids) == 4
    worker = start_worker(_send_claimed, claim.token, [str(i) for i in claim.row_ids])
    wait_for(
        lambda: ScheduledWhatsAppMessage.objects.filter(call_started_at__isnull=False).exists()
    )
    gateway_simulator.wait_for_request(r"^/send$", method="POST")
    kill(worker)
    killed_at = time.monotonic()
    in_flight = ScheduledWhatsAppMessage.objects.get(call_started_at__isnull=False)
    untouched = [r for r in rows if r.id != in_flight.id]

    other = start_worker(_worker_loop, DEFAULTS.QUEUE_DISPATCH_INTERVAL_SECONDS, 40)
    try:
        wait_for(lambda: all(status_of(r) == "sent" for r in untouched), timeout=30)
        wait_for(lambda: status_of(in_flight) == "needs_review", timeout=30)
        recovered_after = time.monotonic() - killed_at
    finally:
        kill(other)

    assert recovered_after < 30
    # WhatsApp got every message exactly once: the in-flight one from the dead worker's call.
    per_row = Counter(s["clientMessageId"] for s in gateway_simulator.sends())
    assert per_row == Counter(str(r.client_message_id) for r in rows)
    assert (
        "may have been sent" in ScheduledWhatsAppMessage.objects.get(id=in_flight.id).error_message
    )


@pytest.mark.postgres
def test_it_keeps_a_live_workers_claim_while_its_batch_outlasts_the_lease(
    settings, gateway_session, mocked_gateway
):
    settings.QUEUE_LEASE_SECONDS = 1
    settings.QUEUE_DISPATCH_INTERVAL_SECONDS = 1  # the claim's lease: 1 s lookahead + 1 s
    sends: list[str] = []

    def slow_send(request) -> tuple[int, dict, str]:
        time.sleep(0.8)
        sends.append(json.loads(request.body)["clientMessageId"])
        return 200, {}, json.dumps({"messageId": f"wamid.{len(sends)}"})

    mocked_gateway.add_callback(responses.POST, send_url(), callback=slow_send)
    rows = [message_create(session=gateway_session) for _ in range(4)]
    reaped = Counter()
    stop = threading.Event()

    def reap_all_the_time() -> None:
        while not stop.is_set():
            result = queue.queue_reap()
            reaped.update(returned=result.returned, needs_review=result.needs_review)
            time.sleep(0.05)

    reaper = threading.Thread(target=in_thread(reap_all_the_time))
    reaper.start()
    try:
        started = time.monotonic()
        summary = queue.queue_process_once(reap=False)
        took = time.monotonic() - started
    finally:
        stop.set()
        reaper.join()

    assert took > 3  # four sends of 0.8 s: longer than the claim's 2 s lease
    assert summary.sent == 4
    assert (reaped["returned"], reaped["needs_review"]) == (0, 0)
    assert [status_of(r) for r in rows] == ["sent"] * 4
    assert sorted(sends) == sorted(str(r.client_message_id) for r in rows)


def test_it_reaps_expired_claims_at_every_dispatch(gateway_session):
    row = message_create(session=gateway_session)
    first = queue.queue_claim()
    ScheduledWhatsAppMessage.objects.filter(id=row.id).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )

    # Beat's dispatch (no worker runs the batch here): the dead claim is reaped and claimed anew.
    assert tasks.queue_dispatch.apply().get() == {"batches": 1, "rows": 1}

    row.refresh_from_db()
    assert row.status == "sending" and row.claimed_by != first.token


def test_it_bounds_the_call_lease_by_the_call_deadline(settings):
    settings.GATEWAY_TIMEOUT_SECONDS = 10
    assert queue.call_lease() > timedelta(seconds=10)
    assert queue.call_lease(VpsGateway(timeout=2.5)) > timedelta(seconds=2.5)


# --- a trickling gateway ---------------------------------------------------------------------


class TricklingGateway:
    """A TCP server that accepts a request, then sends its answer one byte every `gap` seconds,
    far slower than any deadline but never slow enough for a per-read timeout to fire."""

    def __init__(self, *, headers_first: bool, gap: float = 0.1) -> None:
        self.headers_first = headers_first
        self.gap = gap
        self.requests = 0
        self.closed_early = threading.Event()
        self.on_request = lambda: None
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            self.requests += 1
            self.on_request()
            body = json.dumps({"messageId": "wamid.slow"}).encode() + b" " * 2000
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
            )
            trickled = head + body
            if self.headers_first:
                conn.sendall(head)
                trickled = body
            for i in range(len(trickled)):
                try:
                    conn.sendall(trickled[i : i + 1])
                except OSError:
                    self.closed_early.set()  # the client hung up: its deadline worked
                    return
                time.sleep(self.gap)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def trickling_gateway(request) -> Iterator[TricklingGateway]:
    server = TricklingGateway(headers_first=getattr(request, "param", False))
    yield server
    server.close()


@pytest.mark.parametrize(
    "trickling_gateway", [False, True], ids=["slow-headers", "slow-body"], indirect=True
)
def test_it_ends_a_trickling_call_at_its_deadline(trickling_gateway):
    gateway = VpsGateway(base_url=trickling_gateway.url, api_key="k", timeout=1.0)
    started = time.monotonic()

    with pytest.raises(GatewayError) as err:
        gateway.send_message(session_id="wa_1", to="1@g.us", message="hi", client_message_id="c1")

    took = time.monotonic() - started
    assert 1.0 <= took < 1.5  # the whole call, not each read
    assert (err.value.code, err.value.ambiguous) == ("timeout", True)
    assert err.value.message == "The gateway did not answer within 1 s."
    assert trickling_gateway.closed_early.wait(2)


@pytest.mark.postgres
def test_it_never_lets_a_trickling_call_outlive_its_lease(
    settings, trickling_gateway, gateway_session
):
    settings.GATEWAY_URL = trickling_gateway.url
    settings.GATEWAY_TIMEOUT_SECONDS = 1
    row = message_create(session=gateway_session)
    seen: dict[str, object] = {}

    def read_lease() -> None:  # while the call is running, from the server's thread
        seen["lease_until"] = ScheduledWhatsAppMessage.objects.get(id=row.id).lease_until

    trickling_gateway.on_request = in_thread(read_lease)

    summary = queue.queue_process_once()
    finished = timezone.now()

    row.refresh_from_db()
    assert summary.needs_review == 1 and trickling_gateway.requests == 1
    assert row.status == "needs_review"
    assert "did not answer within 1 s" in row.error_message  # the worker's verdict, not a reap
    assert finished < seen["lease_until"]
    assert queue.queue_reap().needs_review == 0


# --- no decision while a call may be running -------------------------------------------------


def _in_flight(session) -> ScheduledWhatsAppMessage:
    row = message_create(session=session)
    queue.queue_claim()
    now = timezone.now()
    ScheduledWhatsAppMessage.objects.filter(id=row.id).update(
        call_started_at=now, lease_until=now + queue.call_lease()
    )
    return ScheduledWhatsAppMessage.objects.get(id=row.id)


@pytest.mark.parametrize("sent", [True, False], ids=["mark-sent", "mark-failed"])
def test_it_refuses_to_resolve_a_row_while_its_call_may_be_running(gateway_session, sent):
    row = _in_flight(gateway_session)
    before = ScheduledWhatsAppMessage.objects.filter(id=row.id).values().get()

    with pytest.raises(ApplicationError) as err:
        services.scheduled_message_resolve(message=row, sent=sent)

    assert "being sent right now" in err.value.message
    assert err.value.details["status"] == "sending"
    assert ScheduledWhatsAppMessage.objects.filter(id=row.id).values().get() == before


def test_it_lets_staff_resolve_a_started_row_once_its_lease_ran_out(gateway_session):
    row = _in_flight(gateway_session)
    ScheduledWhatsAppMessage.objects.filter(id=row.id).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )

    services.scheduled_message_resolve(message=row, sent=False)

    row.refresh_from_db()
    assert (row.status, row.lease_until) == ("failed", None)
    assert queue.queue_reap().needs_review == 0  # nothing left for the reaper


def test_it_refuses_to_resolve_a_row_that_never_reached_the_gateway(gateway_session):
    row = message_create(session=gateway_session)
    queue.queue_claim()
    ScheduledWhatsAppMessage.objects.filter(id=row.id).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )

    with pytest.raises(ApplicationError, match="Only messages that need review"):
        services.scheduled_message_resolve(message=row, sent=True)
    assert status_of(row) == "sending"


def test_it_says_so_on_the_queue_page_when_a_call_may_be_running(logged_in_client, gateway_session):
    row = _in_flight(gateway_session)

    response = logged_in_client.post(
        reverse("campaigns:queue-action", args=[row.id, "mark-sent"]), HTTP_HX_REQUEST="true"
    )

    assert "being sent right now" in response.headers["HX-Trigger"]
    assert status_of(row) == "sending"
