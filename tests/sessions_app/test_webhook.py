"""POST /api/webhooks/whatsapp/status/ — auth, validation, inbox, replay, and never a 5xx."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from sessions_app.models import WhatsAppSession
from tests import factories
from tests.helpers import load_payload
from whatsapp_crm.models import WebhookEvent
from whatsapp_crm.webhooks import webhook_signature

Status = WhatsAppSession.Status
URL = "/api/webhooks/whatsapp/status/"


@pytest.fixture
def fixture_session(organization):
    return factories.session_create(
        organization=organization, session_id="wa_fixture_session", status=Status.CONNECTING
    )


def post_json(client: APIClient, payload: object, url: str = URL, **headers: str):
    return client.post(url, json.dumps(payload), content_type="application/json", **headers)


def test_it_marks_the_session_connected(webhook_client, fixture_session):
    response = post_json(webhook_client, load_payload("session_status_connected.json"))

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "session": str(fixture_session.id),
        "status": "connected",
    }
    fixture_session.refresh_from_db()
    assert fixture_session.status == Status.CONNECTED
    assert fixture_session.phone_number == "4915123456789"
    event = WebhookEvent.objects.get(source="session_status", outcome="applied")
    assert event.reference == "wa_fixture_session"
    assert event.event_key == "id:evt_3f1c2a9e5b7d4c10a1b2c3d4e5f60718"


def _session_reads(queries) -> list[str]:
    return [
        q["sql"]
        for q in queries
        if q["sql"].startswith("SELECT") and 'FROM "whatsapp_sessions"' in q["sql"]
    ]


@pytest.mark.postgres  # SQLite has no FOR UPDATE
def test_an_event_that_moves_no_number_reads_and_locks_its_session_in_one_query(
    webhook_client, fixture_session
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    payload = load_payload("session_status_disconnected.json")
    with CaptureQueriesContext(connection) as ctx:
        assert post_json(webhook_client, payload).status_code == 200

    reads = _session_reads(ctx.captured_queries)
    assert len(reads) == 1 and reads[0].endswith("FOR UPDATE"), reads
    fixture_session.refresh_from_db()
    assert fixture_session.status == Status.DISCONNECTED


@pytest.mark.postgres  # SQLite has no FOR UPDATE
def test_a_connected_event_with_a_number_locks_the_organization_before_the_session(
    webhook_client, fixture_session
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        response = post_json(webhook_client, load_payload("session_status_connected.json"))
        assert response.status_code == 200

    locks = [q["sql"] for q in ctx.captured_queries if "FOR" in q["sql"].split("LIMIT")[-1]]
    assert 'FROM "organizations"' in locks[0], locks
    assert any('FROM "whatsapp_sessions"' in sql for sql in locks[1:]), locks


def test_it_marks_the_session_disconnected_with_the_error(webhook_client, fixture_session):
    response = post_json(webhook_client, load_payload("session_status_disconnected.json"))

    assert response.status_code == 200
    assert response.json()["status"] == "disconnected"
    fixture_session.refresh_from_db()
    assert fixture_session.status == Status.DISCONNECTED
    assert fixture_session.last_error == "Connection closed by WhatsApp"
    assert fixture_session.last_error_at is not None


def test_it_marks_the_session_connecting(webhook_client, organization):
    session = factories.session_create(
        organization=organization, session_id="wa_fixture_session", status=Status.CONNECTED
    )

    response = post_json(webhook_client, load_payload("session_status_connecting.json"))

    assert response.status_code == 200
    session.refresh_from_db()
    assert session.status == Status.CONNECTING
    assert session.last_error  # a connected session that drops is an error worth showing


def test_it_accepts_the_path_without_trailing_slash(webhook_client, fixture_session):
    response = post_json(
        webhook_client, load_payload("session_status_connected.json"), url=URL.rstrip("/")
    )

    assert response.status_code == 200


def test_it_answers_a_replay_as_duplicate_without_applying_it_twice(
    webhook_client, fixture_session
):
    payload = load_payload("session_status_disconnected.json")
    first = post_json(webhook_client, payload)
    fixture_session.refresh_from_db()
    first_error_at = fixture_session.last_error_at

    replay = post_json(webhook_client, payload)

    assert first.status_code == 200
    assert replay.status_code == 200
    assert replay.json() == {"success": True, "duplicate": True}
    fixture_session.refresh_from_db()
    assert fixture_session.last_error_at == first_error_at
    outcomes = sorted(WebhookEvent.objects.values_list("outcome", flat=True))
    assert outcomes == ["applied", "duplicate"]


def test_it_recognises_a_replay_without_id_by_its_body(webhook_client, fixture_session):
    payload = load_payload("session_status_connected.json")
    del payload["id"]

    post_json(webhook_client, payload)
    replay = post_json(webhook_client, payload)

    assert replay.json()["duplicate"] is True


def test_it_refuses_a_missing_api_key(client, fixture_session):
    response = post_json(client, load_payload("session_status_connected.json"))

    assert response.status_code == 401
    fixture_session.refresh_from_db()
    assert fixture_session.status == Status.CONNECTING
    assert WebhookEvent.objects.get().outcome == "unauthorized"


def test_it_refuses_a_wrong_api_key(client, fixture_session):
    response = post_json(
        client, load_payload("session_status_connected.json"), HTTP_X_API_KEY="wrong"
    )

    assert response.status_code == 401
    assert response.json()["success"] is False


def test_it_requires_the_hmac_signature_when_a_secret_is_set(
    settings, webhook_client, fixture_session
):
    settings.WEBHOOK_HMAC_SECRET = "s3cret"
    raw = json.dumps(load_payload("session_status_connected.json")).encode()

    unsigned = webhook_client.post(URL, raw, content_type="application/json")
    wrong = webhook_client.post(
        URL, raw, content_type="application/json", HTTP_X_WEBHOOK_HMAC="00" * 64
    )
    signed = webhook_client.post(
        URL,
        raw,
        content_type="application/json",
        HTTP_X_WEBHOOK_HMAC=webhook_signature("s3cret", raw),
    )

    assert unsigned.status_code == 401
    assert wrong.status_code == 401
    assert signed.status_code == 200


def test_it_refuses_malformed_json(webhook_client, fixture_session):
    response = webhook_client.post(URL, b'{"sessionId": ', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["success"] is False


def test_it_lists_the_missing_fields(webhook_client, fixture_session):
    response = post_json(webhook_client, {"event": "session_status"})

    assert response.status_code == 400
    details = response.json()["details"]
    assert set(details) == {"sessionId", "status"}


def test_it_refuses_an_unknown_status(webhook_client, fixture_session):
    payload = load_payload("session_status_connected.json", status="online")

    response = post_json(webhook_client, payload)

    assert response.status_code == 400
    assert "status" in response.json()["details"]


def test_it_refuses_a_phone_number_that_is_not_one(webhook_client, fixture_session):
    payload = load_payload("session_status_connected.json", phoneNumber="call me maybe")

    response = post_json(webhook_client, payload)

    assert response.status_code == 400
    assert "phoneNumber" in response.json()["details"]
    fixture_session.refresh_from_db()
    assert fixture_session.status == Status.CONNECTING


def test_it_answers_404_for_an_unknown_session(webhook_client, fixture_session):
    payload = load_payload("session_status_connected.json", sessionId="wa_nobody")

    response = post_json(webhook_client, payload)

    assert response.status_code == 404
    assert response.json()["error"] == "Unknown session"
    assert WebhookEvent.objects.get().outcome == "rejected"
    # A refused event does not own its id: once the session exists, the retry is applied.
    factories.session_create(organization=fixture_session.organization, session_id="wa_nobody")
    assert post_json(webhook_client, payload).status_code == 200


# --- property-based: nothing a gateway (or an attacker with the key) sends causes a 5xx -------------

# Any text, NUL characters and lone surrogates included: the inbox stores them as U+FFFD
# (whatsapp_crm/text.py), validation refuses them where a column would hold them.
text = st.text()
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)
# Payloads shaped like the real event, with arbitrary values in the known fields.
status_like = st.fixed_dictionaries(
    {},
    optional={
        "event": st.sampled_from(["session_status", "message_error"]) | json_values,
        "sessionId": st.sampled_from(["wa_fixture_session", "wa_unknown", ""]) | json_values,
        "status": st.sampled_from(["connected", "disconnected", "connecting"]) | json_values,
        "phoneNumber": st.sampled_from(["4915123456789", "+49 151 1", "x@s.whatsapp.net"])
        | json_values,
        "error": json_values,
        "id": json_values,
    },
)

HYPOTHESIS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@HYPOTHESIS
@given(payload=json_values | status_like)
def test_it_never_answers_5xx_for_any_json(webhook_client, fixture_session, payload):
    response = post_json(webhook_client, payload)

    assert response.status_code < 500, response.content
    assert response.status_code in {200, 400, 404}
    # The base class answers 409 "retry" for any exception `apply()` raises; that would hide a
    # crash. Every answer must come from validation, the inbox or apply, never from that catch-all.
    assert "retry" not in response.json(), response.content
    assert not WebhookEvent.objects.filter(outcome=WebhookEvent.Outcome.ERROR).exists()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "body",
    [
        '{"sessionId": "wa_fixture_session", "status": "connected", "id": "a\\u0000b"}',
        '{"sessionId": "wa_fixture_session", "status": "connected", "id": "x", "n": Infinity}',
        '{"sessionId": "wa_fixture_session", "status": "connected", "id": "y", "k": "\\udfb8"}',
    ],
    ids=["nul-in-id", "infinity", "lone-surrogate"],
)
def test_it_records_or_refuses_json_that_postgres_cannot_store(
    webhook_client, fixture_session, body
):
    response = webhook_client.post(URL, body, content_type="application/json")

    # Either applied and recorded, or refused as bad input by validation — never the catch-all.
    assert response.status_code in {200, 400}, response.content
    assert WebhookEvent.objects.exists()


@HYPOTHESIS
@given(raw=st.binary(max_size=300))
def test_it_never_answers_5xx_for_any_bytes(webhook_client, fixture_session, raw):
    response = webhook_client.post(URL, raw, content_type="application/json")

    assert response.status_code < 500, response.content
