"""POST /api/webhooks/whatsapp/message-error/: late WhatsApp errors (420), races and replays."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns_app import queue, services
from campaigns_app.models import ScheduledWhatsAppMessage
from tests.campaigns_app.conftest import in_thread, message_create, status_of
from tests.helpers import load_payload
from whatsapp_crm.models import WebhookEvent

ERROR_TEXT = "WhatsApp error 420: Not allowed to send to a community parent group"

pytestmark = pytest.mark.django_db(transaction=True)


def url() -> str:
    return reverse("campaigns-api:webhook-message-error")


def error_payload(session, message_id: str, event_id: str | None = "evt-1") -> dict:
    payload = load_payload("message_error")
    payload.update(sessionId=session.session_id, messageId=message_id)
    if event_id is None:
        payload.pop("id")
    else:
        payload["id"] = event_id
    return payload


def post(client, payload):
    return client.post(url(), data=json.dumps(payload), content_type="application/json")


def sent_row(session, gateway_sends) -> ScheduledWhatsAppMessage:
    row = message_create(session=session, recipient_jid="120363025246125486@g.us")
    queue.queue_process_once()
    row.refresh_from_db()
    assert row.status == "sent"
    return row


def test_it_turns_a_sent_message_into_failed(webhook_client, gateway_session, gateway_sends):
    row = sent_row(gateway_session, gateway_sends)

    response = post(webhook_client, error_payload(gateway_session, row.message_id))

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "matched": True,
        "changed": True,
        "scheduled_message_id": str(row.id),
    }
    row.refresh_from_db()
    assert (row.status, row.error_message) == ("failed", ERROR_TEXT)
    event = WebhookEvent.objects.get(source="message_error", outcome="applied")
    assert event.reference == row.message_id


def test_it_works_without_a_trailing_slash(webhook_client, gateway_session, gateway_sends):
    row = sent_row(gateway_session, gateway_sends)
    response = webhook_client.post(
        url().rstrip("/"),
        data=json.dumps(error_payload(gateway_session, row.message_id)),
        content_type="application/json",
    )
    assert response.status_code == 200
    assert status_of(row) == "failed"


def test_it_answers_404_for_an_unknown_session(webhook_client, gateway_session):
    payload = load_payload("message_error")
    payload["sessionId"] = "wa_nobody"

    response = post(webhook_client, payload)

    assert response.status_code == 404
    assert response.json()["error"] == "Unknown session"
    assert WebhookEvent.objects.get(source="message_error").outcome == "rejected"


def test_it_answers_401_without_the_key(gateway_session):
    response = post(APIClient(), error_payload(gateway_session, "wamid.x"))
    assert response.status_code == 401


def test_it_answers_400_without_a_message_id(webhook_client, gateway_session):
    payload = error_payload(gateway_session, "x")
    payload.pop("messageId")
    response = post(webhook_client, payload)
    assert response.status_code == 400
    assert response.json()["success"] is False


def test_it_keeps_an_error_that_beats_the_send_and_applies_it_when_the_send_is_recorded(
    webhook_client, gateway_session, gateway_sends
):
    row = message_create(session=gateway_session)

    # The gateway's error for the id it is about to return arrives before the send is recorded.
    response = post(webhook_client, error_payload(gateway_session, "wamid.0001"))
    assert response.status_code == 202
    assert response.json() == {"success": True, "matched": False}
    kept = WebhookEvent.objects.get(source="message_error")
    assert (kept.outcome, kept.reference) == ("pending", "wamid.0001")

    queue.queue_process_once()

    row.refresh_from_db()
    assert (row.status, row.message_id, row.error_message) == ("failed", "wamid.0001", ERROR_TEXT)
    kept.refresh_from_db()
    assert kept.outcome == "applied" and kept.applied_at is not None


def test_it_answers_a_replay_as_duplicate_and_changes_nothing(
    webhook_client, gateway_session, gateway_sends
):
    row = sent_row(gateway_session, gateway_sends)
    payload = error_payload(gateway_session, row.message_id)
    assert post(webhook_client, payload).status_code == 200
    # Staff sends it again; the replayed old error must not touch the new send.
    services.scheduled_message_retry_now(message=row)
    queue.queue_process_once()
    assert status_of(row) == "sent"

    replay = post(webhook_client, payload)

    assert replay.status_code == 200
    assert replay.json() == {"success": True, "duplicate": True}
    assert status_of(row) == "sent"
    assert WebhookEvent.objects.filter(source="message_error", outcome="applied").count() == 1


def test_it_answers_a_replay_without_event_id_as_duplicate(
    webhook_client, gateway_session, gateway_sends
):
    row = sent_row(gateway_session, gateway_sends)
    payload = error_payload(gateway_session, row.message_id, event_id=None)

    assert post(webhook_client, payload).status_code == 200
    replay = post(webhook_client, payload)

    assert replay.json()["duplicate"] is True


def test_it_answers_a_replayed_pending_error_with_202(webhook_client, gateway_session):
    payload = error_payload(gateway_session, "wamid.unknown")
    assert post(webhook_client, payload).status_code == 202

    replay = post(webhook_client, payload)

    assert replay.status_code == 202
    assert replay.json()["duplicate"] is True
    assert WebhookEvent.objects.filter(outcome="pending").count() == 1


def test_it_leaves_an_already_failed_message_as_it_is(
    webhook_client, gateway_session, gateway_sends
):
    row = sent_row(gateway_session, gateway_sends)
    assert (
        post(webhook_client, error_payload(gateway_session, row.message_id, "e1")).status_code
        == 200
    )

    second = post(webhook_client, error_payload(gateway_session, row.message_id, "e2"))

    assert second.status_code == 200
    assert second.json()["changed"] is False


@pytest.mark.postgres
def test_it_applies_20_simultaneous_replays_once(gateway_session, gateway_sends):
    row = sent_row(gateway_session, gateway_sends)
    payload = error_payload(gateway_session, row.message_id)
    barrier = threading.Barrier(20)

    def deliver():
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=settings.WEBHOOK_API_KEY)
        barrier.wait()
        response = post(client, payload)
        return response.status_code, response.json()

    with ThreadPoolExecutor(20) as pool:
        answers = [f.result() for f in [pool.submit(in_thread(deliver)) for _ in range(20)]]

    assert all(status == 200 for status, _ in answers)
    assert sum(1 for _, body in answers if body.get("duplicate")) == 19
    assert WebhookEvent.objects.filter(source="message_error", outcome="applied").count() == 1
    assert WebhookEvent.objects.filter(source="message_error", outcome="duplicate").count() == 19
    assert status_of(row) == "failed"


@pytest.mark.postgres
def test_it_waits_for_a_send_being_recorded_instead_of_missing_it(gateway_session):
    """The dangerous moment: the webhook arrives while the worker's record is not committed yet."""
    row = message_create(session=gateway_session)
    claim = queue.queue_claim()
    claimed = ScheduledWhatsAppMessage.objects.select_related("session", "campaign_group").get(
        id=row.id
    )
    recording, release = threading.Event(), threading.Event()

    def worker():
        with transaction.atomic():
            assert queue.record_sent(row=claimed, token=claim.token, message_id="wamid.r") == "sent"
            recording.set()
            release.wait(10)  # commit only after the webhook has started

    def webhook():
        client = APIClient()
        client.credentials(HTTP_X_API_KEY=settings.WEBHOOK_API_KEY)
        return post(client, error_payload(gateway_session, "wamid.r"))

    with ThreadPoolExecutor(2) as pool:
        recorded = pool.submit(in_thread(worker))
        assert recording.wait(10)
        answer = pool.submit(in_thread(webhook))
        # The webhook blocks on the message-id lock instead of concluding "unknown".
        with pytest.raises(TimeoutError):
            answer.result(timeout=0.5)
        release.set()
        recorded.result(timeout=10)
        response = answer.result(timeout=10)

    assert response.status_code == 200
    assert response.json()["changed"] is True
    assert status_of(row) == "failed"


@pytest.mark.postgres
def test_it_never_loses_an_error_racing_the_send_record(gateway_session, gateway_sends):
    rounds = 15
    rows = [message_create(session=gateway_session) for _ in range(rounds)]
    gateway_sends.script = [(200, {"messageId": f"race-{i}"}) for i in range(rounds)]
    answers = []
    for i, row in enumerate(rows):
        claim = queue.queue_claim(limit=1)
        assert claim.row_ids == [row.id]
        barrier = threading.Barrier(2)

        def worker(claim=claim, barrier=barrier):
            barrier.wait()
            return queue.queue_send_claimed(token=claim.token, row_ids=claim.row_ids)

        def webhook(i=i, barrier=barrier):
            client = APIClient()
            client.credentials(HTTP_X_API_KEY=settings.WEBHOOK_API_KEY)
            barrier.wait()
            return post(client, error_payload(gateway_session, f"race-{i}", f"evt-{i}"))

        with ThreadPoolExecutor(2) as pool:
            sent = pool.submit(in_thread(worker))
            answer = pool.submit(in_thread(webhook))
            sent.result(timeout=20)
            answers.append(answer.result(timeout=20).status_code)

    assert {status_of(row) for row in rows} == {"failed"}
    assert all(
        r.error_message == ERROR_TEXT
        for r in ScheduledWhatsAppMessage.objects.filter(id__in=[r.id for r in rows])
    )
    assert WebhookEvent.objects.filter(source="message_error", outcome="applied").count() == rounds
    assert not WebhookEvent.objects.filter(source="message_error", outcome="pending").exists()
    assert set(answers) <= {200, 202}


NASTY_BODIES = [
    b"",
    b"null",
    b"[]",
    b'"text"',
    b"{not json",
    b"\xff\xfe\x00garbage",
    json.dumps({"sessionId": None, "messageId": "x"}).encode(),
    json.dumps({"sessionId": ["a"], "messageId": {"b": 1}}).encode(),
    json.dumps({"sessionId": "s", "messageId": "m" * 5000}).encode(),
    json.dumps({"sessionId": "s", "messageId": True, "errorCode": {"x": 1}}).encode(),
]


@pytest.mark.parametrize("body", NASTY_BODIES)
def test_it_answers_4xx_never_5xx_for_nasty_input(webhook_client, body):
    response = webhook_client.post(url(), data=body, content_type="application/json")
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize("field", ["sessionId", "messageId", "errorMessage", "id"])
def test_it_answers_4xx_never_5xx_for_nul_characters(
    webhook_client, gateway_session, gateway_sends, field
):
    row = sent_row(gateway_session, gateway_sends)
    payload = error_payload(gateway_session, row.message_id)
    payload[field] = f"{payload[field]}\x00tail"

    response = post(webhook_client, payload)

    assert response.status_code < 500
    if field in ("sessionId", "messageId"):
        assert status_of(row) == "sent"
