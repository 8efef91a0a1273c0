"""End to end with the gateway simulator's WAHA and Evolution dialects as two gateway rows of one
organization, PUBLIC_BASE_URL pointing at the live test server: each session registers our
receiver with its own gateway, and the gateways' own webhooks (signed with the row's secret for
WAHA) connect and disconnect the sessions — nobody polls."""

from __future__ import annotations

import pytest

from gateway_simulator import GatewaySimulator
from gateways_app import services as gateway_services
from sessions_app import services
from sessions_app.models import WhatsAppSession
from tests.helpers import wait_for
from whatsapp_crm.models import WebhookEvent

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

KEY = "e2e-gateway-key"
PHONES = {"waha": "4915100000011", "evolution": "4915100000022"}


@pytest.fixture
def simulators():
    sims = {
        "waha": GatewaySimulator(
            port=0, api_key=KEY, connect_after=0.5, dialect="waha", variant="GOWS"
        ).start(),
        "evolution": GatewaySimulator(
            port=0, api_key=KEY, connect_after=0.5, dialect="evolution"
        ).start(),
    }
    try:
        yield sims
    finally:
        for sim in sims.values():
            sim.stop()


def test_each_gateway_row_reports_to_its_own_receiver(
    settings, live_server, organization, simulators
):
    settings.PUBLIC_BASE_URL = live_server.url
    rows = {
        kind: gateway_services.gateway_create(
            organization=organization, name=kind, kind=kind, base_url=sim.url, api_key=KEY
        )
        for kind, sim in simulators.items()
    }
    assert all(gateway_services.gateway_check(gateway=row).ok for row in rows.values())

    sessions = {}
    for kind, row in rows.items():
        sessions[kind] = services.session_create(organization=organization, name=kind, gateway=row)
        simulators[kind].set_phone(sessions[kind].session_id, PHONES[kind])

    def status(kind: str) -> str:
        return WhatsAppSession.objects.get(pk=sessions[kind].pk).status

    for kind in rows:
        wait_for(lambda kind=kind: status(kind) == "connected", timeout=15)
        assert WhatsAppSession.objects.get(pk=sessions[kind].pk).phone_number == PHONES[kind]
    applied = WebhookEvent.objects.filter(outcome="applied")
    assert applied.filter(source="waha", session_id=sessions["waha"].session_id).exists()
    assert applied.filter(source="evolution", session_id=sessions["evolution"].session_id).exists()
    assert not WebhookEvent.objects.filter(outcome="unauthorized").exists()

    for kind, sim in simulators.items():
        sim.disconnect(sessions[kind].session_id, error="Phone offline")
    for kind in rows:
        wait_for(lambda kind=kind: status(kind) == "disconnected", timeout=15)
