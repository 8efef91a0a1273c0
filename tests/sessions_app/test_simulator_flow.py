"""End-to-end against the real gateway simulator (HTTP both ways, nothing mocked)."""

from __future__ import annotations

import pytest

from gateway_simulator import demo_phone_number
from sessions_app import services
from sessions_app.models import WhatsAppSession
from tests import factories
from tests.helpers import wait_for

Status = WhatsAppSession.Status


def test_it_connects_by_polling_the_qr_code(gateway_simulator, organization):
    session = services.session_create(organization=organization, name="Sim")

    first = services.session_poll_qr(session=session)
    assert first.qr is not None
    assert first.qr.startswith(f"sim-qr|{session.session_id}|")

    # The simulator "scans" the code after connect_after (0.5 s).
    poll = wait_for(
        lambda: (p := services.session_poll_qr(session=session)).status == Status.CONNECTED and p
    )
    assert poll.session.phone_number == demo_phone_number(session.session_id)
    session.refresh_from_db()
    assert session.status == Status.CONNECTED


def test_it_verifies_the_truth_after_a_disconnect(gateway_simulator, organization):
    session = factories.session_create(organization=organization, session_id="wa_demo_verify")

    assert services.session_verify(session=session).vps_status == "connected"
    gateway_simulator.disconnect("wa_demo_verify", error="Connection closed by WhatsApp")
    result = services.session_verify(session=session)

    assert result.session.status == Status.DISCONNECTED
    assert result.session.last_error == "Connection closed by WhatsApp"


def test_it_reports_unreachable_when_the_simulator_drops_the_connection(
    gateway_simulator, organization
):
    session = factories.session_create(organization=organization, session_id="wa_demo_drop")
    gateway_simulator.add_failure(path=r"/status$", status=0)

    result = services.session_verify(session=session)

    assert result.vps_status == "unreachable"
    session.refresh_from_db()
    assert session.status == Status.CONNECTED


def test_it_logs_out_and_reconnects_at_the_simulator(gateway_simulator, organization):
    session = factories.session_create(organization=organization, session_id="wa_demo_cycle")

    services.session_logout(session=session)
    assert services.session_verify(session=session).vps_status == "disconnected"
    restarted = services.session_reconnect(session=session)

    assert restarted.status == Status.CONNECTING
    assert services.session_poll_qr(session=session).qr is not None


@pytest.mark.slow
def test_it_follows_the_status_webhooks(live_gateway_simulator, transactional_db, organization):
    old = factories.session_create(organization=organization, phone_number="4915100000001")
    session = services.session_create(organization=organization)
    live_gateway_simulator.set_phone(session.session_id, "4915100000001")

    # connect_after 0.5 s: the simulator posts "connected" to the live server's webhook.
    wait_for(lambda: WhatsAppSession.objects.get(pk=session.pk).status == Status.CONNECTED)
    session.refresh_from_db()
    old.refresh_from_db()
    assert session.phone_number == "4915100000001"
    assert old.phone_number is None

    live_gateway_simulator.disconnect(session.session_id, error="Phone lost its connection")
    wait_for(lambda: WhatsAppSession.objects.get(pk=session.pk).status == Status.DISCONNECTED)
    session.refresh_from_db()
    assert session.last_error == "Phone lost its connection"
    deliveries = live_gateway_simulator.webhook_deliveries()
    assert [d["status"] for d in deliveries] == [200, 200]
