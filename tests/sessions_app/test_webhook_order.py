"""Status webhooks in order (issue 10): an older event never overwrites a newer state; an event
without `id` is a duplicate only when it repeats the session's latest event; an unauthenticated
request stores at most 1 KB of its body."""

from __future__ import annotations

import json

import pytest

from sessions_app.models import WhatsAppSession
from whatsapp_crm.models import WebhookEvent

URL = "/api/webhooks/whatsapp/status/"
Status = WhatsAppSession.Status


def _post(client, session, status, **extra):
    body = {"event": "session_status", "sessionId": session.session_id, "status": status, **extra}
    return client.post(URL, body, format="json")


def test_identical_bodies_are_applied_again_after_a_different_event(
    webhook_client, gateway_session
):
    first = _post(webhook_client, gateway_session, "connected", phoneNumber="4915123456789")
    second = _post(webhook_client, gateway_session, "disconnected", error="Phone offline")
    third = _post(webhook_client, gateway_session, "connected", phoneNumber="4915123456789")

    assert [r.json().get("duplicate") for r in (first, second, third)] == [None, None, None]
    gateway_session.refresh_from_db()
    assert gateway_session.status == Status.CONNECTED
    assert WebhookEvent.objects.filter(outcome=WebhookEvent.Outcome.APPLIED).count() == 3


def test_a_retry_of_the_latest_event_is_a_duplicate(webhook_client, gateway_session):
    _post(webhook_client, gateway_session, "disconnected", error="Phone offline")

    retry = _post(webhook_client, gateway_session, "disconnected", error="Phone offline")

    assert retry.status_code == 200
    assert retry.json()["duplicate"] is True
    assert WebhookEvent.objects.filter(outcome=WebhookEvent.Outcome.APPLIED).count() == 1


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        (1_780_000_000_000, 1_780_000_005_000),  # epoch ms (WAHA)
        (1_780_000_000, 1_780_000_005),  # epoch seconds
        ("2026-06-01T10:00:00Z", "2026-06-01T10:00:05+00:00"),  # ISO 8601
    ],
)
def test_an_older_event_never_overwrites_a_newer_state(
    webhook_client, gateway_session, older, newer
):
    _post(webhook_client, gateway_session, "disconnected", error="Phone offline", timestamp=newer)

    late = _post(webhook_client, gateway_session, "connected", timestamp=older, id="late-1")

    assert late.status_code == 200
    assert late.json()["ignored"] is True
    assert late.json()["status"] == Status.DISCONNECTED
    gateway_session.refresh_from_db()
    assert gateway_session.status == Status.DISCONNECTED
    assert gateway_session.last_error == "Phone offline"


def test_a_newer_event_is_applied(webhook_client, gateway_session):
    _post(webhook_client, gateway_session, "disconnected", timestamp=1_780_000_000_000)

    newer = _post(webhook_client, gateway_session, "connected", timestamp=1_780_000_001_000)

    assert newer.json()["status"] == Status.CONNECTED
    gateway_session.refresh_from_db()
    assert gateway_session.status == Status.CONNECTED


@pytest.mark.parametrize("bad", ["yesterday", True, -1e30, "9" * 50, {"a": 1}])
def test_a_bad_timestamp_is_refused_and_changes_nothing(webhook_client, gateway_session, bad):
    response = _post(webhook_client, gateway_session, "disconnected", timestamp=bad)

    assert response.status_code == 400
    assert "timestamp" in response.json()["details"]
    gateway_session.refresh_from_db()
    assert gateway_session.status == Status.CONNECTED


@pytest.mark.parametrize(
    "url", ["/api/webhooks/whatsapp/status/", "/api/webhooks/whatsapp/message-error/"]
)
def test_an_unauthenticated_megabyte_stores_at_most_one_kilobyte(client, db, url):
    body = json.dumps({"event": "session_status", "padding": "x" * 1_000_000})

    response = client.post(url, body, content_type="application/json", HTTP_X_API_KEY="wrong")

    assert response.status_code == 401
    event = WebhookEvent.objects.get()
    assert event.outcome == WebhookEvent.Outcome.UNAUTHORIZED
    assert len(event.raw_body.encode()) <= 1024
    assert event.payload is None
