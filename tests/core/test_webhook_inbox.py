from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from whatsapp_crm.models import TaskRun, WebhookEvent
from whatsapp_crm.webhooks import webhook_signature

pytestmark = pytest.mark.urls("tests.core.webhook_urls")


def post(client, payload, **headers):
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return client.generic("POST", "/hook", body, content_type="application/json", **headers)


def applied_count() -> int:
    return TaskRun.objects.filter(kind="demo-applied").count()


@pytest.mark.django_db
def test_it_applies_an_event_and_records_it(webhook_client):
    response = post(webhook_client, {"event": "demo", "sessionId": "wa_1", "id": "e1"})
    assert response.status_code == 200
    assert response.json() == {"success": True}
    event = WebhookEvent.objects.get(source="demo")
    assert (event.outcome, event.event_key, event.http_status, event.reference) == (
        "applied",
        "id:e1",
        200,
        "wa_1",
    )
    assert event.applied_at is not None
    assert applied_count() == 1


@pytest.mark.django_db
def test_it_answers_a_replay_as_duplicate_without_applying_twice(webhook_client):
    payload = {"event": "demo", "sessionId": "wa_1"}  # no id: the body hash is the key
    assert post(webhook_client, payload).status_code == 200
    again = post(webhook_client, payload)
    assert again.status_code == 200
    assert again.json() == {"success": True, "duplicate": True}
    assert applied_count() == 1
    assert WebhookEvent.objects.filter(outcome="duplicate").count() == 1


@pytest.mark.django_db
def test_it_answers_202_for_a_pending_event_and_its_replay(webhook_client):
    payload = {"event": "demo", "sessionId": "wa_1", "mode": "pending", "id": "p1"}
    first = post(webhook_client, payload)
    assert first.status_code == 202
    replay = post(webhook_client, payload)
    assert replay.status_code == 202
    assert replay.json()["duplicate"] is True
    assert WebhookEvent.objects.get(outcome="pending").reference == "m1"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("headers", "reason"),
    [({}, "Missing X-API-Key"), ({"HTTP_X_API_KEY": "wrong"}, "Invalid API key")],
)
def test_it_answers_401_for_a_missing_or_wrong_key(headers, reason):
    response = post(APIClient(), {"event": "demo", "sessionId": "wa_1"}, **headers)
    assert response.status_code == 401
    assert reason in response.json()["error"]
    assert applied_count() == 0
    assert WebhookEvent.objects.get().outcome == "unauthorized"


@pytest.mark.django_db
def test_it_checks_the_hmac_when_a_secret_is_set(settings, webhook_client):
    settings.WEBHOOK_HMAC_SECRET = "s3cret"
    body = json.dumps({"event": "demo", "sessionId": "wa_1"}).encode()
    assert post(webhook_client, body).status_code == 401
    assert post(webhook_client, body, HTTP_X_WEBHOOK_HMAC="00" * 64).status_code == 401
    good = post(webhook_client, body, HTTP_X_WEBHOOK_HMAC=webhook_signature("s3cret", body))
    assert good.status_code == 200
    assert applied_count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1,2]",
        b"null",
        json.dumps({"event": "demo"}).encode(),
        json.dumps({"event": "x", "sessionId": 1}).encode(),
    ],
)
def test_it_answers_400_for_bad_input_and_changes_nothing(webhook_client, body):
    response = post(webhook_client, body)
    assert response.status_code == 400
    assert response.json()["success"] is False
    assert applied_count() == 0
    assert WebhookEvent.objects.get().outcome == "rejected"


@pytest.mark.django_db
def test_it_answers_missing_fields_with_field_errors(webhook_client):
    response = post(webhook_client, {"event": "demo"})
    assert response.json()["details"] == {"sessionId": ["This field is required."]}


@pytest.mark.django_db
def test_it_keeps_a_rejected_event_retryable(webhook_client):
    payload = {"event": "demo", "sessionId": "wa_1", "mode": "reject", "id": "r1"}
    assert post(webhook_client, payload).status_code == 404
    assert post(webhook_client, payload).status_code == 404  # not "duplicate": nothing was applied
    assert WebhookEvent.objects.filter(outcome="rejected").count() == 2


@pytest.mark.django_db
def test_it_rolls_back_and_asks_for_a_retry_when_applying_crashes(webhook_client):
    payload = {"event": "demo", "sessionId": "wa_1", "mode": "crash", "id": "c1"}

    response = post(webhook_client, payload)

    # A bug of ours must not drop the event: 409 asks the gateway to send it again (a 400
    # would tell it never to), and the inbox keeps the error for the operator.
    assert response.status_code == 409
    assert response.json()["retry"] is True
    assert response.json()["success"] is False
    assert not TaskRun.objects.filter(kind="must-roll-back").exists()
    event = WebhookEvent.objects.get()
    assert (event.outcome, event.http_status, event.event_key) == ("error", 409, "id:c1")
    assert "RuntimeError('bug')" in event.detail
    # The failed attempt does not own the event's id: the retry (once fixed) is applied.
    retried = post(webhook_client, dict(payload, mode="apply"))
    assert retried.status_code == 200
    assert applied_count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [33, 600, 50_000])
def test_it_answers_400_for_json_nested_too_deeply(webhook_client, depth):
    # 600 levels parse, but would overflow the stack when stored or validated; 50,000 do not parse.
    lists = depth - 1  # inside the event object
    body = '{"event": "demo", "sessionId": "wa_1", "extra": ' + "[" * lists + "]" * lists + "}"

    response = post(webhook_client, body)

    assert response.status_code == 400
    assert response.json()["success"] is False
    assert response.json()["details"] == {"body": "JSON nested deeper than 32 levels."}
    assert applied_count() == 0
    assert WebhookEvent.objects.get().outcome == "rejected"


@pytest.mark.django_db
def test_it_applies_an_event_nested_as_deep_as_allowed(webhook_client):
    body = '{"event": "demo", "sessionId": "wa_1", "extra": ' + "[" * 31 + "]" * 31 + "}"

    assert post(webhook_client, body).status_code == 200
    assert applied_count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_applies_20_simultaneous_replays_once():
    payload = json.dumps({"event": "demo", "sessionId": "wa_1", "id": "same"})
    barrier = threading.Barrier(20)
    statuses: list[int] = []

    def worker():
        client = APIClient()
        client.credentials(HTTP_X_API_KEY="test-webhook-key")
        barrier.wait()
        try:
            statuses.append(post(client, payload).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 20
    assert applied_count() == 1
    assert WebhookEvent.objects.filter(outcome="applied").count() == 1
    assert WebhookEvent.objects.filter(outcome="duplicate").count() == 19


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_reconnects_when_its_connection_broke_while_idle(django_db_blocker):
    """Webhooks skip the per-request health check: a connection that broke between requests
    (Postgres restarted) fails the first statement, and the retry reconnects."""
    import psycopg
    from django.conf import settings

    client = APIClient()
    client.credentials(HTTP_X_API_KEY="test-webhook-key")
    assert post(client, {"event": "demo", "sessionId": "wa_1", "id": "a"}).status_code == 200
    broken_pid = connection.connection.info.backend_pid
    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=connection.settings_dict["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [broken_pid])

    response = post(client, {"event": "demo", "sessionId": "wa_1", "id": "b"})

    assert response.status_code == 200, response.content
    assert connection.connection.info.backend_pid != broken_pid
    assert applied_count() == 2
    assert WebhookEvent.objects.filter(outcome="applied").count() == 2
