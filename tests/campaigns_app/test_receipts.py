"""Delivery receipts (INTERFACE §8): POST /api/webhooks/whatsapp/message-ack/ and the counts on
queue rows, campaign groups and campaigns."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pytest
from django.conf import settings
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns_app import queue, services
from campaigns_app.models import (
    NotificationCampaign,
    NotificationCampaignGroup,
    ScheduledWhatsAppMessage,
    WhatsAppMessageReceipt,
)
from campaigns_app.queue.receipts import receipt_counts
from tests.campaigns_app.conftest import in_thread, message_create
from tests.helpers import load_payload
from whatsapp_crm.models import WebhookEvent

pytestmark = pytest.mark.django_db(transaction=True)

GROUP = "120363025246125486@g.us"


@pytest.fixture(autouse=True, params=["one-statement", "statement-by-statement"])
def receipt_writes(request, monkeypatch):
    """Every test runs on both ways of writing a receipt: Postgres' one statement, and the
    statement-by-statement one SQLite uses (`make run`)."""
    from campaigns_app.queue import receipts

    if request.param == "statement-by-statement":
        monkeypatch.setattr(receipts, "_one_statement", lambda: False)
    return request.param


def url() -> str:
    return reverse("campaigns-api:webhook-message-ack")


def ack(session, message_id: str, kind: str, participant: str | None = None, **extra):
    payload = load_payload("message_ack")
    payload.update(sessionId=session.session_id, messageId=message_id, ack=kind, **extra)
    payload["id"] = extra.get("id") or f"ack-{message_id}-{kind}-{participant}"
    if participant is None:
        payload.pop("participant")
    else:
        payload["participant"] = participant
    return payload


def post(client, payload):
    return client.post(url(), data=json.dumps(payload), content_type="application/json")


def sent_row(session, recipient: str = GROUP) -> ScheduledWhatsAppMessage:
    row = message_create(session=session, recipient_jid=recipient)
    queue.queue_process_once()
    row.refresh_from_db()
    assert row.status == "sent"
    return row


def numbers(row) -> tuple[int, int]:
    row.refresh_from_db()
    return row.delivered_count, row.read_count


def test_it_counts_each_participant_once(webhook_client, gateway_session, gateway_sends):
    row = sent_row(gateway_session)
    m = row.message_id

    for who, kind in [("491511", "delivered"), ("491512", "delivered"), ("491511", "read")]:
        response = post(webhook_client, ack(gateway_session, m, kind, f"{who}@s.whatsapp.net"))
        assert response.status_code == 200, response.json()
    # The same participant reported from another device and in WAHA's spelling: still one.
    post(webhook_client, ack(gateway_session, m, "delivered", "491512:7@s.whatsapp.net"))
    post(webhook_client, ack(gateway_session, m, "delivered", "491512@c.us"))

    assert numbers(row) == (2, 1)
    assert row.status == "sent"  # receipts never change the status
    assert row.delivered_at is not None and row.read_at is not None
    assert set(
        WhatsAppMessageReceipt.objects.filter(message_id=m).values_list("participant", "status")
    ) == {("491511", "delivered"), ("491512", "delivered"), ("491511", "read")}
    answer = post(webhook_client, ack(gateway_session, m, "read", "491512")).json()
    assert answer == {
        "success": True,
        "matched": True,
        "changed": True,
        "scheduled_message_id": str(row.id),
        "delivered_count": 2,
        "read_count": 2,
    }


def test_it_counts_a_direct_message_without_participant(
    webhook_client, gateway_session, gateway_sends
):
    row = sent_row(gateway_session, recipient="4915123456789@s.whatsapp.net")

    post(webhook_client, ack(gateway_session, row.message_id, "server"))
    assert numbers(row) == (0, 0)
    post(webhook_client, ack(gateway_session, row.message_id, "delivered"))
    post(webhook_client, ack(gateway_session, row.message_id, "read"))

    assert numbers(row) == (1, 1)


def test_it_answers_a_replay_as_duplicate_and_counts_nothing_twice(
    webhook_client, gateway_session, gateway_sends
):
    row = sent_row(gateway_session)
    payload = ack(gateway_session, row.message_id, "delivered", "491511")
    assert post(webhook_client, payload).status_code == 200

    replay = post(webhook_client, payload)
    # The same receipt under another event id: kept once as well.
    again = post(webhook_client, {**payload, "id": "another-event-id"})

    assert replay.json() == {"success": True, "duplicate": True}
    assert again.status_code == 200 and again.json()["changed"] is False
    assert numbers(row) == (1, 0)
    assert WhatsAppMessageReceipt.objects.filter(message_id=row.message_id).count() == 1


def test_it_takes_read_before_delivered_and_never_goes_backwards(
    webhook_client, gateway_session, gateway_sends
):
    row = sent_row(gateway_session)
    m = row.message_id

    post(webhook_client, ack(gateway_session, m, "read", "491511", timestamp=1764612060))
    assert numbers(row) == (1, 1)  # read implies delivered
    post(webhook_client, ack(gateway_session, m, "delivered", "491511", timestamp=1764612000))
    post(webhook_client, ack(gateway_session, m, "played", "491511", timestamp=1764612090))

    assert numbers(row) == (1, 1)
    # The first receipt of each kind, whatever the order they arrived in.
    assert row.delivered_at.timestamp() == 1764612000
    assert row.read_at.timestamp() == 1764612060
    # An error after a delivery does not fail the message.
    response = post(webhook_client, ack(gateway_session, m, "error", errorCode="420"))
    assert response.status_code == 200 and response.json()["changed"] is False
    row.refresh_from_db()
    assert row.status == "sent"


def test_any_order_of_acks_and_replays_gives_the_numbers_of_a_full_recount(
    webhook_client, gateway_session, gateway_sends
):
    """120 acks of 12 participants, shuffled (read before delivered, played, replays under new
    event ids, times out of order): the row's numbers are those counted from its receipt rows."""
    import random

    row = sent_row(gateway_session)
    m = row.message_id
    rng = random.Random(13)
    acks = [
        (f"4915{rng.randrange(12):03d}", rng.choice(["delivered", "delivered", "read", "played"]))
        for _ in range(120)
    ]
    for n, (who, kind) in enumerate(acks):
        at = 1764612000 + rng.randrange(600)
        payload = ack(gateway_session, m, kind, who, id=f"shuffled-{n}", timestamp=at)
        assert post(webhook_client, payload).status_code == 200

    row.refresh_from_db()
    truth = receipt_counts(message_id=m)
    assert (row.delivered_count, row.read_count, row.delivered_at, row.read_at) == (
        truth.delivered_count,
        truth.read_count,
        truth.delivered_at,
        truth.read_at,
    )
    assert row.delivered_count == len({who for who, _ in acks})
    assert row.read_count == len({who for who, kind in acks if kind != "delivered"})


def test_an_error_ack_fails_the_message(webhook_client, gateway_session, gateway_sends):
    row = sent_row(gateway_session)

    response = post(
        webhook_client,
        ack(gateway_session, row.message_id, "error", errorCode="420", errorMessage="Refused"),
    )

    assert response.status_code == 200 and response.json()["changed"] is True
    row.refresh_from_db()
    assert (row.status, row.error_message) == ("failed", "WhatsApp error 420: Refused")


def test_it_keeps_receipts_that_beat_the_send_and_counts_them_when_it_is_recorded(
    webhook_client, gateway_session, gateway_sends
):
    row = message_create(session=gateway_session, recipient_jid=GROUP)
    early = [
        ack(gateway_session, "wamid.0001", "read", "491511"),
        ack(gateway_session, "wamid.0001", "delivered", "491512"),
    ]
    for payload in early:
        response = post(webhook_client, payload)
        assert response.status_code == 202
        assert response.json() == {"success": True, "matched": False}
    assert post(webhook_client, early[0]).json() == {
        "success": True,
        "matched": False,
        "duplicate": True,
    }
    assert WebhookEvent.objects.filter(source="message_ack", outcome="pending").count() == 2

    queue.queue_process_once()  # the send is recorded as wamid.0001

    row.refresh_from_db()
    assert (row.status, row.message_id) == ("sent", "wamid.0001")
    assert numbers(row) == (2, 1)
    assert not WebhookEvent.objects.filter(source="message_ack", outcome="pending").exists()


def test_an_error_ack_that_beats_the_send_fails_it_when_recorded(
    webhook_client, gateway_session, gateway_sends
):
    row = message_create(session=gateway_session, recipient_jid=GROUP)
    payload = ack(gateway_session, "wamid.0001", "error", errorCode="420", errorMessage="No")
    assert post(webhook_client, payload).status_code == 202

    queue.queue_process_once()

    row.refresh_from_db()
    assert (row.status, row.error_message) == ("failed", "WhatsApp error 420: No")


def test_a_campaign_shows_receipts_per_group_and_in_total(
    webhook_client, organization, gateway_session, gateway_sends, groups
):
    campaign = services.campaign_create(
        organization=organization,
        session=gateway_session,
        name="Tour",
        message="New dates",
        group_ids=[g.id for g in groups[:2]],
    )
    queue.queue_process_once()
    first, second = NotificationCampaignGroup.objects.filter(campaign=campaign).order_by(
        "group_name"
    )
    for who in ("491511", "491512", "491513"):
        post(webhook_client, ack(gateway_session, first.message_id, "delivered", who))
    post(webhook_client, ack(gateway_session, first.message_id, "read", "491511"))
    post(webhook_client, ack(gateway_session, second.message_id, "read", "491519"))

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.delivered_count, first.read_count) == (3, 1)
    assert (second.delivered_count, second.read_count) == (1, 1)
    campaign = NotificationCampaign.objects.get(id=campaign.id)
    assert (campaign.delivered_count, campaign.read_count) == (4, 2)
    assert campaign.status == "sent"
    # A recount (any later group change) agrees with the increments.
    services.campaign_recount(campaign=campaign)
    campaign.refresh_from_db()
    assert (campaign.delivered_count, campaign.read_count) == (4, 2)

    client = APIClient()
    from rest_framework.authtoken.models import Token

    from tests import factories

    user = factories.user_create(organization=organization, username="reader")
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    body = client.get(reverse("campaigns-api:campaign-detail", args=[campaign.id])).json()
    assert (body["delivered_count"], body["read_count"]) == (4, 2)
    by_jid = {g["group_jid"]: g for g in body["groups"]}
    assert by_jid[first.group_jid]["delivered_count"] == 3
    assert by_jid[first.group_jid]["read_count"] == 1
    assert by_jid[first.group_jid]["delivered_at"] is not None
    row = client.get(
        reverse("campaigns-api:scheduled-message-detail", args=[first.scheduled_message.id])
    ).json()
    assert (row["delivered_count"], row["read_count"]) == (3, 1)


def test_it_answers_404_for_an_unknown_session_and_400_for_a_bad_ack(
    webhook_client, gateway_session
):
    payload = ack(gateway_session, "wamid.x", "delivered", "491511")
    assert post(webhook_client, {**payload, "sessionId": "wa_nobody"}).status_code == 404
    bad = post(webhook_client, {**payload, "ack": "seen", "id": "other"})
    assert bad.status_code == 400 and "ack" in bad.json()["details"]
    assert post(APIClient(), payload).status_code == 401
    assert not WhatsAppMessageReceipt.objects.exists()


@pytest.mark.postgres
def test_20_concurrent_acks_for_one_message_all_count(gateway_session, gateway_sends):
    row = sent_row(gateway_session)
    barrier = threading.Barrier(20)

    def deliver(i: int):
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=settings.WEBHOOK_API_KEY)
        kind = "read" if i % 4 == 0 else "delivered"
        payload = ack(gateway_session, row.message_id, kind, f"49151{i:04d}")
        barrier.wait()
        return post(client, payload).status_code

    with ThreadPoolExecutor(20) as pool:
        answers = [
            f.result() for f in [pool.submit(in_thread(partial(deliver, i))) for i in range(20)]
        ]

    assert answers == [200] * 20
    assert numbers(row) == (20, 5)
    group_row = WebhookEvent.objects.filter(source="message_ack", outcome="applied")
    assert group_row.count() == 20


@pytest.mark.postgres
def test_20_concurrent_acks_for_one_campaign_group_keep_the_campaign_sum(
    organization, gateway_session, gateway_sends, groups
):
    campaign = services.campaign_create(
        organization=organization,
        session=gateway_session,
        name="Tour",
        message="New dates",
        group_ids=[g.id for g in groups[:2]],
    )
    queue.queue_process_once()
    ids = list(
        NotificationCampaignGroup.objects.filter(campaign=campaign).values_list(
            "message_id", flat=True
        )
    )
    barrier = threading.Barrier(20)

    def deliver(i: int):
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=settings.WEBHOOK_API_KEY)
        payload = ack(gateway_session, ids[i % 2], "read", f"49151{i:04d}")
        barrier.wait()
        # A replay of the same receipt at the same moment changes nothing.
        return post(client, payload).status_code, post(client, payload).status_code

    with ThreadPoolExecutor(20) as pool:
        answers = [
            f.result() for f in [pool.submit(in_thread(partial(deliver, i))) for i in range(20)]
        ]

    assert set(answers) == {(200, 200)}
    campaign = NotificationCampaign.objects.get(id=campaign.id)
    assert (campaign.delivered_count, campaign.read_count) == (20, 20)
    assert sorted(
        NotificationCampaignGroup.objects.filter(campaign=campaign).values_list(
            "delivered_count", flat=True
        )
    ) == [10, 10]
