"""The WAHA and Evolution API webhook receivers (INTERFACE §7): statuses, error acks, replays,
keys and signatures, unknown gateways and sessions, and no 5xx for any body."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from campaigns_app import queue
from campaigns_app.models import ScheduledWhatsAppMessage
from sessions_app.models import WhatsAppSession
from tests.campaigns_app.conftest import message_create
from tests.gateways_app.conftest import WAHA_URL, signed
from tests.helpers import load_payload
from whatsapp_crm.models import WebhookEvent

pytestmark = pytest.mark.django_db

PHONE = "4915123456789"
ACKED_ID = "3EB0C767D26A1D6E5A9C"  # the id in webhook_message_ack_error.json
EVOLUTION_ERROR_ID = "3EB0A1B2C3D4E5F60718"  # the keyId in webhook_messages_update_error.json
GROUP = "120363111111111111@g.us"


def waha_event(name: str, session: str, **changes) -> dict:
    event = load_payload(f"../waha/{name}")
    event["session"] = session
    event["metadata"] = {"whatsapp_crm.session_id": session}
    event.update(changes)
    return event


def evolution_event(name: str, instance: str, **changes) -> dict:
    event = load_payload(f"../evolution/{name}")
    event["instance"] = instance
    if isinstance(event.get("data"), dict) and "instance" in event["data"]:
        event["data"]["instance"] = instance
    event.update(changes)
    return event


def session_on(organization, gateway=None, session_id=None, **fields) -> WhatsAppSession:
    fields.setdefault("status", WhatsAppSession.Status.CONNECTING)
    return WhatsAppSession.objects.create(
        organization=organization,
        gateway=gateway,
        session_id=session_id or f"wa_{uuid.uuid4().hex[:12]}",
        **fields,
    )


def sent_row(session, message_id: str) -> ScheduledWhatsAppMessage:
    row = message_create(session=session, recipient_jid=GROUP)
    ScheduledWhatsAppMessage.objects.filter(pk=row.pk).update(status="sent", message_id=message_id)
    return row


def waha_url(gateway=None) -> str:
    return f"/api/webhooks/waha/{gateway.pk}/" if gateway else "/api/webhooks/waha/"


def evolution_url(gateway=None) -> str:
    return f"/api/webhooks/evolution/{gateway.pk}/" if gateway else "/api/webhooks/evolution/"


@pytest.fixture
def waha_default(settings):
    settings.GATEWAY_BACKEND = "waha"
    settings.WEBHOOK_HMAC_SECRET = None


# --- WAHA, default gateway --------------------------------------------------------------------------


def test_waha_session_status_working_connects_the_session(client, organization, waha_default):
    session = session_on(organization)
    body = waha_event("webhook_session_status_working", session.session_id)

    response = client.post(waha_url(), **signed(body, key=settings.WEBHOOK_API_KEY))

    assert response.status_code == 200, response.content
    assert response.json() == {"success": True, "session": str(session.pk), "status": "connected"}
    session.refresh_from_db()
    assert (session.status, session.phone_number) == ("connected", PHONE)
    event = WebhookEvent.objects.get(source="waha")
    assert (event.event_key, event.session_id, event.outcome) == (
        f"id:{body['id']}",
        session.session_id,
        "applied",
    )


def test_waha_replays_are_duplicates_and_change_nothing(client, organization, waha_default):
    session = session_on(organization)
    body = waha_event("webhook_session_status_working", session.session_id)
    client.post(waha_url(), **signed(body, key=settings.WEBHOOK_API_KEY))
    WhatsAppSession.objects.filter(pk=session.pk).update(status="disconnected")

    replay = client.post(waha_url(), **signed(body, key=settings.WEBHOOK_API_KEY))

    assert replay.status_code == 200
    assert replay.json() == {"success": True, "duplicate": True}
    session.refresh_from_db()
    assert session.status == "disconnected"


def test_waha_failed_disconnects_and_names_the_state(client, organization, waha_default):
    session = session_on(organization, status="connected", phone_number=PHONE)
    body = waha_event("webhook_session_status_failed", session.session_id)

    response = client.post(waha_url(), **signed(body, key=settings.WEBHOOK_API_KEY))

    assert response.status_code == 200
    session.refresh_from_db()
    assert session.status == "disconnected"
    assert "FAILED" in session.last_error


@pytest.mark.parametrize("key", [None, "wrong-key"], ids=["missing-key", "wrong-key"])
def test_waha_without_the_key_is_401_and_changes_nothing(client, organization, waha_default, key):
    session = session_on(organization)
    body = waha_event("webhook_session_status_working", session.session_id)
    extra = signed(body, key=key or "")
    if key is None:
        extra.pop("HTTP_X_API_KEY")

    response = client.post(waha_url(), **extra)

    assert response.status_code == 401
    session.refresh_from_db()
    assert session.status == "connecting"
    assert WebhookEvent.objects.get(source="waha").outcome == "unauthorized"


def test_waha_default_receiver_checks_the_hmac_when_a_secret_is_set(
    client, organization, waha_default, settings
):
    settings.WEBHOOK_HMAC_SECRET = "hmac-secret-1"
    session = session_on(organization)
    body = waha_event("webhook_session_status_working", session.session_id)

    unsigned = client.post(waha_url(), **signed(body, key=settings.WEBHOOK_API_KEY))
    forged = client.post(
        waha_url(), **signed(body, key=settings.WEBHOOK_API_KEY, secret="not-the-secret")
    )
    good = client.post(
        waha_url(), **signed(body, key=settings.WEBHOOK_API_KEY, secret="hmac-secret-1")
    )

    assert (unsigned.status_code, forged.status_code, good.status_code) == (401, 401, 200)


def test_the_default_receiver_of_another_kind_says_which_to_use(client, settings):
    settings.GATEWAY_BACKEND = "vps"

    response = client.post(waha_url(), **signed({"x": 1}, key=settings.WEBHOOK_API_KEY))

    assert response.status_code == 404
    assert "GATEWAY_BACKEND=vps" in response.json()["error"]


# --- WAHA, gateway rows -----------------------------------------------------------------------------


def test_a_waha_row_needs_its_own_secret_and_signature(client, organization, waha_gateway):
    session = session_on(organization, waha_gateway)
    body = waha_event("webhook_session_status_working", session.session_id)
    secret = waha_gateway.webhook_secret
    url = waha_url(waha_gateway)

    answers = [
        client.post(url, **signed(body, key=settings.WEBHOOK_API_KEY, secret=secret)).status_code,
        client.post(url, **signed(body, key=secret)).status_code,  # no signature
        client.post(url, **signed(body, key=secret, secret="wrong")).status_code,
        client.post(url, **signed(body, key=secret, secret=secret)).status_code,
    ]

    assert answers == [401, 401, 401, 200]
    session.refresh_from_db()
    assert session.status == "connected"


def test_a_row_cannot_touch_sessions_of_another_gateway(
    client, organization, waha_gateway, waha_default
):
    default_session = session_on(organization)  # on the default gateway
    body = waha_event("webhook_session_status_working", default_session.session_id)
    secret = waha_gateway.webhook_secret

    response = client.post(waha_url(waha_gateway), **signed(body, key=secret, secret=secret))

    assert response.status_code == 404
    assert response.json()["error"] == "Unknown session"
    default_session.refresh_from_db()
    assert default_session.status == "connecting"


def test_an_unknown_gateway_is_404_and_keeps_at_most_1kb(client, evolution_gateway):
    body = {"event": "session.status", "padding": "x" * 50_000}
    responses = [
        client.post(f"/api/webhooks/waha/{uuid.uuid4()}/", **signed(body, key="k")),
        # A row of the other kind is not a WAHA gateway.
        client.post(waha_url(evolution_gateway), **signed(body, key="k")),
    ]

    assert [r.status_code for r in responses] == [404, 404]
    assert "No WAHA gateway" in responses[0].json()["error"]
    stored = WebhookEvent.objects.filter(source="waha")
    assert stored.count() == 2
    assert all(len(e.raw_body) <= 1024 and e.outcome == "rejected" for e in stored)


def test_waha_core_default_session_is_the_one_named_in_metadata(client, organization, waha_gateway):
    waha_gateway.waha_single_session = True
    waha_gateway.save()
    older = session_on(organization, waha_gateway)
    newer = session_on(organization, waha_gateway)
    secret = waha_gateway.webhook_secret
    named = waha_event("webhook_session_status_working", "default")
    named["metadata"] = {"whatsapp_crm.session_id": older.session_id}
    unnamed = waha_event(
        "webhook_session_status_working", "default", id="evt_01kbq9zz", metadata=None
    )
    unnamed["me"]["id"] = "4915100000009@c.us"

    first = client.post(waha_url(waha_gateway), **signed(named, key=secret, secret=secret))
    second = client.post(waha_url(waha_gateway), **signed(unnamed, key=secret, secret=secret))

    assert (first.json()["session"], second.json()["session"]) == (str(older.pk), str(newer.pk))


# --- WAHA acks ---------------------------------------------------------------------------------------


def test_a_waha_error_ack_turns_sent_into_failed(client, organization, waha_gateway):
    session = session_on(organization, waha_gateway, status="connected")
    row = sent_row(session, ACKED_ID)
    body = waha_event("webhook_message_ack_error", session.session_id)
    secret = waha_gateway.webhook_secret

    response = client.post(waha_url(waha_gateway), **signed(body, key=secret, secret=secret))

    assert response.status_code == 200, response.content
    assert response.json() == {
        "success": True,
        "matched": True,
        "changed": True,
        "scheduled_message_id": str(row.pk),
    }
    row.refresh_from_db()
    assert row.status == "failed"
    assert "ack ERROR" in row.error_message


def test_a_waha_error_ack_before_the_send_is_recorded_is_applied_then(
    client, organization, waha_gateway, mocked_gateway, settings
):
    settings.QUEUE_SESSION_RATE_PER_MINUTE = 0
    session = session_on(organization, waha_gateway, status="connected")
    row = message_create(session=session, recipient_jid=GROUP)
    body = waha_event("webhook_message_ack_error", session.session_id)
    secret = waha_gateway.webhook_secret

    early = client.post(waha_url(waha_gateway), **signed(body, key=secret, secret=secret))

    assert early.status_code == 202
    assert early.json() == {"success": True, "matched": False}
    kept = WebhookEvent.objects.get(source="message_error")
    assert (kept.outcome, kept.reference, kept.session_id) == (
        "pending",
        ACKED_ID,
        session.session_id,
    )
    answer = load_payload("../waha/send_text_noweb")
    answer["key"]["id"] = ACKED_ID
    mocked_gateway.post(f"{WAHA_URL}/api/sendText", status=201, json=answer)

    queue.queue_process_once()

    row.refresh_from_db()
    assert (row.status, row.message_id) == ("failed", ACKED_ID)
    kept.refresh_from_db()
    assert kept.outcome == "applied"


@pytest.mark.parametrize(
    "body",
    [
        {
            **load_payload("../waha/webhook_message_ack_group_read"),
            "payload": {
                **load_payload("../waha/webhook_message_ack_group_read")["payload"],
                "ack": 1,
                "ackName": "SERVER",
            },
        },
        {**load_payload("../waha/webhook_session_status_working"), "event": "message"},
        {**load_payload("../waha/webhook_session_status_working"), "event": "engine.event"},
    ],
    ids=["server-ack", "message", "engine-event"],
)
def test_other_waha_events_are_ignored(client, organization, waha_gateway, body):
    session = session_on(organization, waha_gateway, status="connected")
    row = sent_row(session, ACKED_ID)
    body = {**body, "session": session.session_id}
    secret = waha_gateway.webhook_secret

    response = client.post(waha_url(waha_gateway), **signed(body, key=secret, secret=secret))

    assert response.status_code == 200
    assert response.json()["ignored"] is True
    row.refresh_from_db()
    session.refresh_from_db()
    assert (row.status, session.status) == ("sent", "connected")


# --- Evolution API -----------------------------------------------------------------------------------


def test_evolution_connection_open_connects_and_close_disconnects(
    client, organization, evolution_gateway
):
    session = session_on(organization, evolution_gateway)
    secret = evolution_gateway.webhook_secret
    url = evolution_url(evolution_gateway)
    opened = evolution_event("webhook_connection_update_open", session.session_id)
    closed = evolution_event("webhook_connection_update_close", session.session_id)

    first = client.post(url, **signed(opened, key=secret))
    session.refresh_from_db()
    assert first.status_code == 200, first.content
    assert (session.status, session.phone_number) == ("connected", PHONE)

    second = client.post(url, **signed(closed, key=secret))
    session.refresh_from_db()
    assert second.status_code == 200
    assert session.status == "disconnected"
    assert session.last_error == "Evolution API reports the instance as close (reason 401)."


def test_evolution_replays_are_duplicates(client, organization, evolution_gateway):
    session = session_on(organization, evolution_gateway)
    secret = evolution_gateway.webhook_secret
    body = evolution_event("webhook_connection_update_open", session.session_id)
    client.post(evolution_url(evolution_gateway), **signed(body, key=secret))

    replay = client.post(evolution_url(evolution_gateway), **signed(body, key=secret))

    assert replay.json() == {"success": True, "duplicate": True}
    assert WebhookEvent.objects.filter(source="evolution", outcome="duplicate").count() == 1


def test_an_evolution_error_status_turns_sent_into_failed(client, organization, evolution_gateway):
    session = session_on(organization, evolution_gateway, status="connected")
    row = sent_row(session, EVOLUTION_ERROR_ID)
    secret = evolution_gateway.webhook_secret
    error = evolution_event("webhook_messages_update_error", session.session_id)
    read = evolution_event("webhook_messages_update_read", session.session_id)
    read["data"]["keyId"] = EVOLUTION_ERROR_ID
    read["data"]["status"] = "SERVER_ACK"  # changes nothing (receipts: test_receivers_receipts.py)

    ignored = client.post(evolution_url(evolution_gateway), **signed(read, key=secret))
    row.refresh_from_db()
    assert (ignored.json()["ignored"], row.status) == (True, "sent")

    applied = client.post(evolution_url(evolution_gateway), **signed(error, key=secret))
    row.refresh_from_db()
    assert applied.json()["changed"] is True
    assert row.status == "failed"
    assert "status ERROR" in row.error_message


def test_evolution_needs_the_rows_secret(client, organization, evolution_gateway, settings):
    session = session_on(organization, evolution_gateway)
    body = evolution_event("webhook_connection_update_open", session.session_id)

    wrong = client.post(evolution_url(evolution_gateway), **signed(body, key="nope"))
    default_key = client.post(
        evolution_url(evolution_gateway), **signed(body, key=settings.WEBHOOK_API_KEY)
    )

    assert (wrong.status_code, default_key.status_code) == (401, 401)
    session.refresh_from_db()
    assert session.status == "connecting"


def test_evolution_default_receiver_uses_the_webhook_api_key(client, organization, settings):
    settings.GATEWAY_BACKEND = "evolution"
    settings.WEBHOOK_HMAC_SECRET = "set-but-evolution-cannot-sign"
    session = session_on(organization)
    body = evolution_event("webhook_connection_update_open", session.session_id)

    response = client.post(evolution_url(), **signed(body, key=settings.WEBHOOK_API_KEY))

    assert response.status_code == 200
    session.refresh_from_db()
    assert session.status == "connected"


# --- bad bodies ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"not json", 400),
        (b"[1, 2]", 400),
        (b'{"event": "session.status"}', 400),  # no session
        (b'{"event": "session.status", "session": "wa_x", "payload": {"status": "BOGUS"}}', 400),
        (b'{"event": "session.status", "session": "wa_x", "payload": "WORKING"}', 400),
        (b'{"event": "message.ack", "session": "wa_x", "payload": {"ack": -1}}', 400),
        (b'{"event": "session.status", "session": "wa_x", "payload": {"status": "WORKING"}}', 404),
        (b'{"event": "session.status", "session": "wa_x", "timestamp": "soon"}', 400),
        (b'{"event": "a\\u0000b", "session": "wa_x"}', 400),
    ],
)
def test_bad_waha_bodies_are_4xx(client, organization, waha_gateway, body, status):
    secret = waha_gateway.webhook_secret

    response = client.post(waha_url(waha_gateway), **signed(body, key=secret, secret=secret))

    assert response.status_code == status, response.content
    assert response.json()["success"] is False


text = st.text(max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=10,
)
waha_like = st.fixed_dictionaries(
    {},
    optional={
        "id": json_values,
        "timestamp": st.integers() | json_values,
        "event": st.sampled_from(["session.status", "message.ack", "message.ack.group"])
        | json_values,
        "session": st.sampled_from(["wa_fuzz", "default"]) | json_values,
        "me": json_values,
        "metadata": json_values,
        "payload": st.fixed_dictionaries(
            {},
            optional={
                "status": st.sampled_from(["WORKING", "FAILED", "PASSKEY_REQUIRED"]) | json_values,
                "id": json_values,
                "ack": st.sampled_from([-1, 3]) | json_values,
                "ackName": st.sampled_from(["ERROR", "READ"]) | json_values,
            },
        )
        | json_values,
    },
)
evolution_like = st.fixed_dictionaries(
    {},
    optional={
        "event": st.sampled_from(["connection.update", "messages.update", "CONNECTION_UPDATE"])
        | json_values,
        "instance": st.sampled_from(["wa_fuzz"]) | json_values,
        "data": st.fixed_dictionaries(
            {},
            optional={
                "state": st.sampled_from(["open", "close", "refused"]) | json_values,
                "wuid": json_values,
                "statusReason": json_values,
                "status": st.sampled_from(["ERROR", "READ"]) | json_values,
                "keyId": json_values,
                "fromMe": json_values,
            },
        )
        | json_values,
        "date_time": json_values,
    },
)
FUZZ = hypothesis_settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(body=waha_like | json_values)
def test_no_waha_body_answers_5xx(client, organization, waha_gateway, body):
    WhatsAppSession.objects.get_or_create(
        session_id="wa_fuzz", defaults={"organization": organization, "gateway": waha_gateway}
    )
    secret = waha_gateway.webhook_secret

    response = client.post(waha_url(waha_gateway), **signed(body, key=secret, secret=secret))

    assert response.status_code in {200, 202, 400, 404}, response.content
    assert "retry" not in response.json()


@FUZZ
@given(body=evolution_like | json_values)
def test_no_evolution_body_answers_5xx(client, organization, evolution_gateway, body):
    WhatsAppSession.objects.get_or_create(
        session_id="wa_fuzz", defaults={"organization": organization, "gateway": evolution_gateway}
    )
    secret = evolution_gateway.webhook_secret

    response = client.post(evolution_url(evolution_gateway), **signed(body, key=secret))

    assert response.status_code in {200, 202, 400, 404}, response.content
    assert "retry" not in response.json()
