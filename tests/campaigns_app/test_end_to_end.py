"""End to end with the real simulator posting real webhooks to the live test server."""

from __future__ import annotations

import pytest

from campaigns_app import queue, services
from campaigns_app.models import NotificationCampaign, ScheduledWhatsAppMessage
from gateway_simulator import generate_groups
from tests import factories
from tests.campaigns_app.conftest import group_create, later, message_create
from tests.helpers import wait_for
from whatsapp_crm.models import WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_session(organization):
    # Sessions named wa_demo… are connected in the simulator from the start.
    return factories.session_create(organization=organization, session_id="wa_demo_e2e")


def row_status(row_id) -> str:
    return ScheduledWhatsAppMessage.objects.get(id=row_id).status


def test_it_shows_sent_then_failed_when_the_late_420_arrives(live_gateway_simulator, demo_session):
    parent = next(g for g in generate_groups(demo_session.session_id, 30) if g["isCommunity"])
    row = message_create(session=demo_session, recipient_jid=parent["id"])

    queue.queue_process_once()

    row.refresh_from_db()
    assert row.status == "sent" and row.message_id.startswith("sim_")
    wait_for(lambda: row_status(row.id) == "failed", timeout=10)
    row.refresh_from_db()
    assert row.error_message == (
        "WhatsApp error 420: Not allowed to send to a community parent group"
    )
    event = WebhookEvent.objects.get(source="message_error")
    assert (event.outcome, event.reference) == ("applied", row.message_id)
    assert len(live_gateway_simulator.sends()) == 1


def test_it_turns_a_campaign_partly_failed_when_a_group_is_rejected_later(
    live_gateway_simulator, organization, demo_session
):
    groups = [
        group_create(organization=organization, session=demo_session, group_jid=g["id"])
        for g in generate_groups(demo_session.session_id, 30)
        if not g["isCommunity"]
    ][:5]
    live_gateway_simulator.reject_jid(groups[0].group_jid)
    campaign = services.campaign_create(
        organization=organization,
        session=demo_session,
        name="Live",
        message="Hello",
        group_ids=[g.id for g in groups],
    )

    queue.queue_process_once()

    assert NotificationCampaign.objects.get(id=campaign.id).sent_count == 5
    wait_for(
        lambda: NotificationCampaign.objects.get(id=campaign.id).status == "partial_failure",
        timeout=10,
    )
    campaign.refresh_from_db()
    assert (campaign.sent_count, campaign.failed_count) == (4, 1)
    rejected = campaign.groups.get(group_jid=groups[0].group_jid)
    assert rejected.error_message == "WhatsApp error 420: Message rejected by WhatsApp"


def test_it_waits_while_the_session_is_disconnected_then_sends(
    live_gateway_simulator, demo_session
):
    live_gateway_simulator.disconnect(demo_session.session_id)
    # Let the session_status webhook land first, so its error text cannot overwrite ours.
    wait_for(lambda: live_gateway_simulator.webhook_deliveries(), timeout=10)
    row = message_create(session=demo_session, recipient_jid="120363000000000001@g.us")

    queue.queue_process_once()
    queue.queue_process_once()  # backing off: no second attempt yet

    row.refresh_from_db()
    assert (row.status, row.retry_count, row.error_message) == (
        "pending",
        1,
        "Session not connected",
    )
    demo_session.refresh_from_db()
    assert demo_session.last_error == "Session not connected"

    live_gateway_simulator.connect(demo_session.session_id)
    queue.queue_process_once(now=later())

    assert row_status(row.id) == "sent"
    assert len(live_gateway_simulator.sends()) == 1


def test_it_sends_once_after_503s_then_success(gateway_simulator, gateway_session):
    simulator = gateway_simulator
    simulator.connect(gateway_session.session_id)
    simulator.add_failure(
        path=r"^/send$",
        method="POST",
        status=503,
        body={"error": "Session not connected"},
        times=3,
    )
    row = message_create(session=gateway_session)

    for hours in (1, 2, 3, 4, 5):
        queue.queue_process_once(now=later(hours=hours))

    row.refresh_from_db()
    assert (row.status, row.retry_count) == ("sent", 3)
    assert len(simulator.sends()) == 1
    assert simulator.sends()[0]["clientMessageId"] == str(row.client_message_id)
