"""A gateway outage (connection refused, connect timeout) pauses the gateway's sessions; it never
fails their rows nor uses up their retries.

`responses` stands in for the gateway; time is driven by moving the stored times back
(`time_passes`), so a 20-minute outage takes a second. One test uses a real closed port and the
real simulator.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from datetime import timedelta

import pytest
import requests
import responses
from django.db.models import F
from django.utils import timezone

from campaigns_app import queue, selectors, services
from campaigns_app.models import QueueSessionState, ScheduledWhatsAppMessage
from campaigns_app.queue.outage import OUTAGE_PROBE_MAX_SECONDS
from tests import factories
from tests.campaigns_app.conftest import later, message_create, send_url, status_of

pytestmark = pytest.mark.django_db(transaction=True)

REFUSED = requests.exceptions.ConnectionError("[Errno 111] Connection refused")


class FlakyGateway:
    """POST /send: unreachable while `down` holds an exception, then accepts (or rejects the
    recipients in `rejected` with a 400)."""

    def __init__(self) -> None:
        self.down: Exception | None = REFUSED
        self.rejected: set[str] = set()
        self.calls = 0
        self.accepted: list[str] = []  # clientMessageIds WhatsApp got

    def __call__(self, request) -> tuple[int, dict, str]:
        self.calls += 1
        body = json.loads(request.body)
        if self.down is not None:
            raise self.down
        if body["to"] in self.rejected:
            return 400, {}, json.dumps({"error": "Invalid recipient"})
        self.accepted.append(body["clientMessageId"])
        return 200, {}, json.dumps({"messageId": f"wamid.{len(self.accepted):04d}"})


@pytest.fixture
def gateway(mocked_gateway) -> FlakyGateway:
    flaky = FlakyGateway()
    mocked_gateway.add_callback(
        responses.POST, send_url(), callback=flaky, content_type="application/json"
    )
    return flaky


def time_passes(seconds: float) -> None:
    """Every stored moment moves `seconds` into the past: as if that much time went by."""
    delta = timedelta(seconds=seconds)
    QueueSessionState.objects.update(
        paused_until=F("paused_until") - delta,
        unreachable_since=F("unreachable_since") - delta,
        next_slot_at=F("next_slot_at") - delta,
    )
    ScheduledWhatsAppMessage.objects.filter(status="pending").update(
        next_attempt_at=F("next_attempt_at") - delta, scheduled_for=F("scheduled_for") - delta
    )


def all_rows():
    return ScheduledWhatsAppMessage.objects.all()


def test_it_rides_out_a_20_minute_outage_and_then_sends_every_row_once(
    organization, gateway_session, groups, gateway
):
    other_session = factories.session_create(organization=organization)
    singles = [
        message_create(session=s) for s in (gateway_session, other_session) for _ in range(3)
    ]
    campaign = services.campaign_create(
        organization=organization,
        session=gateway_session,
        name="Tour dates",
        message="New dates!",
        group_ids=[g.id for g in groups[:2]],
    )
    started = timezone.now()

    probes_while_down = 0
    for _ in range(40):  # 40 × 30 s = 20 minutes of connection refused
        calls_before = gateway.calls
        queue.queue_process_once()
        assert gateway.calls - calls_before <= 1, "one probe at a time for the whole gateway"
        probes_while_down += gateway.calls - calls_before
        assert not all_rows().filter(status__in=["failed", "needs_review"]).exists()
        time_passes(30)

    # It kept probing (at least every OUTAGE_PROBE_MAX_SECONDS), and nothing was sent.
    assert probes_while_down >= 20 * 60 / OUTAGE_PROBE_MAX_SECONDS - 1
    assert gateway.accepted == []
    outages = selectors.queue_outages(organization=organization)
    assert {o["session"].id for o in outages} == {gateway_session.id, other_session.id}
    for outage in outages:
        # "since" is the first refused call, 20 simulated minutes ago.
        assert abs((outage["since"] - (started - timedelta(minutes=20))).total_seconds()) < 60
    assert {o["session"].id: o["waiting"] for o in outages} == {
        gateway_session.id: 5,
        other_session.id: 3,
    }

    gateway.down = None  # the gateway is back
    for _ in range(4):
        queue.queue_process_once()
        time_passes(30)

    rows = list(all_rows())
    assert Counter(r.status for r in rows) == {"sent": 8}
    assert {r.retry_count for r in rows} == {0}
    assert Counter(gateway.accepted) == Counter(str(r.client_message_id) for r in rows)
    assert len(gateway.accepted) == len(set(gateway.accepted)) == 8
    assert all(status_of(r) == "sent" for r in singles)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.sent_count, campaign.failed_count) == ("sent", 2, 0)
    assert selectors.queue_outages(organization=organization) == []
    assert not QueueSessionState.objects.filter(unreachable_since__isnull=False).exists()


@pytest.mark.parametrize(
    "error",
    [REFUSED, requests.exceptions.ConnectTimeout("connect timed out")],
    ids=["connection-refused", "connect-timeout"],
)
def test_it_pauses_every_session_of_the_gateway_without_using_a_retry(
    organization, gateway_session, gateway, error
):
    gateway.down = error
    other_session = factories.session_create(organization=organization)
    row = message_create(session=gateway_session)
    waiting = message_create(session=other_session)

    summary = queue.queue_process_once()

    assert (summary.deferred, summary.retrying, summary.failed, gateway.calls) == (2, 0, 0, 1)
    row.refresh_from_db()
    state = QueueSessionState.objects.get(session=gateway_session)
    assert (row.status, row.retry_count) == ("pending", 0)
    assert row.next_attempt_at == state.paused_until > timezone.now()
    assert "does not count as a retry" in row.error_message
    assert state.unreachable_since is not None
    other_state = QueueSessionState.objects.get(session=other_session)
    assert other_state.paused_until == state.paused_until
    assert other_state.unreachable_since == state.unreachable_since
    assert status_of(waiting) == "pending"
    # Paused: nothing is claimed, from either session, until the pause ends.
    assert queue.queue_claim().row_ids == []


def test_it_keeps_the_gateway_pause_with_the_rate_limit_on(
    settings, organization, gateway_session, gateway
):
    settings.QUEUE_SESSION_RATE_PER_MINUTE = 20
    other_session = factories.session_create(organization=organization)
    message_create(session=gateway_session)
    message_create(session=other_session)

    queue.queue_process_once()

    assert gateway.calls == 1
    assert queue.queue_claim().row_ids == []


def test_it_fails_a_row_only_for_its_own_reasons(organization, gateway_session, gateway):
    rows = [message_create(session=gateway_session) for _ in range(3)]
    gateway.rejected = {rows[1].recipient_jid}
    queue.queue_process_once()
    assert Counter(status_of(r) for r in rows) == {"pending": 3}

    gateway.down = None
    time_passes(OUTAGE_PROBE_MAX_SECONDS)
    queue.queue_process_once(now=later())

    assert [status_of(r) for r in rows] == ["sent", "failed", "sent"]
    rows[1].refresh_from_db()
    assert rows[1].error_message.startswith("Gateway refused the request (400)")
    assert rows[1].retry_count == 0


def test_it_ends_the_outage_at_any_answer_from_the_gateway(
    organization, gateway_session, gateway, mocked_gateway
):
    other_session = factories.session_create(organization=organization)
    message_create(session=gateway_session)
    message_create(session=other_session)
    queue.queue_process_once()
    assert QueueSessionState.objects.filter(unreachable_since__isnull=False).count() == 2

    # Back, but this session is not connected: the outage is over, its own 503 pause begins.
    gateway.down = None
    mocked_gateway.replace(
        responses.POST, send_url(), json={"error": "Session not connected"}, status=503
    )
    time_passes(OUTAGE_PROBE_MAX_SECONDS)
    queue.queue_process_once()

    assert not QueueSessionState.objects.filter(unreachable_since__isnull=False).exists()
    assert selectors.queue_outages(organization=organization) == []
    # Each session's probe got its own 503: now each waits out its own pause, with a retry used.
    assert ScheduledWhatsAppMessage.objects.filter(retry_count=1).count() == 2
    assert set(QueueSessionState.objects.values_list("consecutive_failures", flat=True)) == {1}


def test_it_lists_outages_of_the_organization_only_with_the_rows_due(
    organization, other_organization, gateway_session, gateway
):
    foreign = factories.session_create(organization=other_organization)
    message_create(session=gateway_session)
    message_create(session=gateway_session, scheduled_for=later())  # not due: not "waiting"
    message_create(session=foreign)

    queue.queue_process_once()

    outages = selectors.queue_outages(organization=organization)
    assert [(o["session"].id, o["waiting"]) for o in outages] == [(gateway_session.id, 1)]
    assert outages[0]["since"] <= timezone.now() < outages[0]["paused_until"]
    assert [o["session"].id for o in selectors.queue_outages(organization=other_organization)] == [
        foreign.id
    ]


def test_it_does_not_take_an_ambiguous_timeout_for_an_outage(gateway_session, gateway):
    gateway.down = requests.exceptions.ReadTimeout("read timed out")
    row = message_create(session=gateway_session)

    queue.queue_process_once()

    assert status_of(row) == "needs_review"
    assert not QueueSessionState.objects.filter(unreachable_since__isnull=False).exists()


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # nothing listens there now: connection refused


def test_it_waits_for_a_real_gateway_that_is_down_then_sends(
    settings, gateway_simulator, gateway_session
):
    gateway_simulator.connect(gateway_session.session_id)
    rows = [message_create(session=gateway_session) for _ in range(3)]
    settings.GATEWAY_URL = _closed_port_url()

    queue.queue_process_once()

    assert [status_of(r) for r in rows] == ["pending"] * 3
    assert QueueSessionState.objects.get(session=gateway_session).unreachable_since is not None

    settings.GATEWAY_URL = gateway_simulator.url
    time_passes(OUTAGE_PROBE_MAX_SECONDS)
    queue.queue_process_once()
    time_passes(OUTAGE_PROBE_MAX_SECONDS)
    queue.queue_process_once()

    assert [status_of(r) for r in rows] == ["sent"] * 3
    assert {r.retry_count for r in all_rows()} == {0}
    per_row = Counter(s["clientMessageId"] for s in gateway_simulator.sends())
    assert len(per_row) == 3 and set(per_row.values()) == {1}
