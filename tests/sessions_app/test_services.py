"""Session services against the real database; the gateway is mocked at the HTTP edge."""

from __future__ import annotations

import pytest

from sessions_app import services
from sessions_app.models import WhatsAppSession
from tests import factories
from whatsapp_crm.gateway import GatewayError

Status = WhatsAppSession.Status
P = "4915123456789"


# --- session_mark_connected ------------------------------------------------------------------------


def test_a_session_locked_before_its_organization_cannot_take_a_number(organization):
    """`locked=True` means the caller locked the session first: moving a number then would
    take the organization lock second, against the lock order, so it is refused."""
    session = factories.session_create(organization=organization, status=Status.CONNECTING)

    from django.db import transaction

    with pytest.raises(ValueError, match="cannot take a number"), transaction.atomic():
        services.session_mark_connected(session=session, phone_number=P, locked=True)

    session.refresh_from_db()
    assert (session.status, session.phone_number) == (Status.CONNECTING, None)


def test_it_moves_the_number_from_an_older_session(organization):
    old = factories.session_create(organization=organization, phone_number=P)
    new = factories.session_create(organization=organization, status=Status.CONNECTING)

    result = services.session_mark_connected(session=new, phone_number=P)

    old.refresh_from_db()
    assert result.status == Status.CONNECTED
    assert result.phone_number == P
    assert old.phone_number is None
    assert old.status == Status.DISCONNECTED
    assert old.last_error == f"Number reconnected in session {new.session_id}"
    assert old.last_error_at is not None


def test_it_frees_the_number_of_a_disconnected_holder_without_touching_its_error(organization):
    old = factories.session_create(
        organization=organization,
        phone_number=P,
        status=Status.DISCONNECTED,
        last_error="Logged out on the phone",
    )
    new = factories.session_create(organization=organization, status=Status.CONNECTING)

    services.session_mark_connected(session=new, phone_number=P)

    old.refresh_from_db()
    assert old.phone_number is None
    assert old.status == Status.DISCONNECTED
    assert old.last_error == "Logged out on the phone"


def test_it_leaves_other_organizations_alone(organization, other_organization):
    foreign = factories.session_create(organization=other_organization, phone_number=P)
    mine = factories.session_create(organization=organization, status=Status.CONNECTING)

    services.session_mark_connected(session=mine, phone_number=P)

    foreign.refresh_from_db()
    assert foreign.phone_number == P
    assert foreign.status == Status.CONNECTED


def test_it_normalises_the_phone_number_to_digits(organization):
    session = factories.session_create(organization=organization, status=Status.CONNECTING)

    result = services.session_mark_connected(session=session, phone_number="+49 151-2345 6789")

    assert result.phone_number == "4915123456789"


def test_it_accepts_a_whatsapp_jid_as_phone_number(organization):
    session = factories.session_create(organization=organization, status=Status.CONNECTING)

    result = services.session_mark_connected(
        session=session, phone_number="4915123456789:17@s.whatsapp.net"
    )

    assert result.phone_number == "4915123456789"


def test_it_keeps_the_stored_number_when_none_is_reported(organization):
    session = factories.session_create(
        organization=organization, phone_number=P, status=Status.DISCONNECTED, last_error="x"
    )

    result = services.session_mark_connected(session=session, phone_number=None)

    assert result.phone_number == P
    assert result.status == Status.CONNECTED
    assert result.last_error == ""
    assert result.last_error_at is None


def test_it_is_idempotent_for_the_same_session(organization):
    session = factories.session_create(organization=organization, status=Status.CONNECTING)
    services.session_mark_connected(session=session, phone_number=P)

    again = services.session_mark_connected(session=session, phone_number=P)

    assert again.phone_number == P
    assert WhatsAppSession.objects.filter(phone_number=P).count() == 1


# --- other transitions ---------------------------------------------------------------------------


def test_it_marks_disconnected_with_the_gateway_error(gateway_session):
    result = services.session_mark_disconnected(session=gateway_session, error="Phone offline")

    assert result.status == Status.DISCONNECTED
    assert result.last_error == "Phone offline"
    assert result.last_error_at is not None


def test_it_marks_disconnected_with_a_default_error(gateway_session):
    result = services.session_mark_disconnected(session=gateway_session, error=None)

    assert result.last_error == "Disconnected at gateway"


def test_it_records_an_error_without_changing_the_status(gateway_session):
    services.session_mark_error(session=gateway_session, error="Session not connected (503)")

    gateway_session.refresh_from_db()
    assert gateway_session.status == Status.CONNECTED
    assert gateway_session.last_error == "Session not connected (503)"
    assert gateway_session.last_error_at is not None


def test_it_records_losing_the_connection_when_a_connected_session_drops_to_connecting(
    gateway_session,
):
    result = services.session_mark_connecting(session=gateway_session)

    assert result.status == Status.CONNECTING
    assert result.last_error == "Connection lost; the gateway is reconnecting"


# --- session_verify ------------------------------------------------------------------------------


def test_it_flips_a_stale_connected_session_and_stores_the_error(gateway, gateway_session):
    gateway.status(gateway_session.session_id, "disconnected", error="Logged out on the phone")

    result = services.session_verify(session=gateway_session)

    gateway_session.refresh_from_db()
    assert result.vps_status == "disconnected"
    assert gateway_session.status == Status.DISCONNECTED
    assert gateway_session.last_error == "Logged out on the phone"
    assert gateway_session.last_error_at is not None


def test_it_stores_disconnected_at_gateway_when_the_gateway_gives_no_reason(
    gateway, gateway_session
):
    gateway.status(gateway_session.session_id, "disconnected")

    services.session_verify(session=gateway_session)

    gateway_session.refresh_from_db()
    assert gateway_session.last_error == "Disconnected at gateway"


def test_it_stores_a_gateway_error_text_that_postgres_could_not_hold_as_is(
    gateway, gateway_session
):
    gateway.status(gateway_session.session_id, "disconnected", error="Bad\x00 \udfb8 text")

    result = services.session_verify(session=gateway_session)

    gateway_session.refresh_from_db()
    assert result.vps_status == "disconnected"
    assert gateway_session.status == Status.DISCONNECTED
    assert gateway_session.last_error == "Bad\ufffd \ufffd text"


def test_it_changes_nothing_when_the_gateway_is_unreachable(gateway, gateway_session):
    gateway.status_unreachable(gateway_session.session_id)
    before = WhatsAppSession.objects.values().get(pk=gateway_session.pk)

    result = services.session_verify(session=gateway_session)

    assert result.vps_status == "unreachable"
    assert result.unreachable
    assert result.error is not None
    assert result.error.code == "unreachable"
    assert WhatsAppSession.objects.values().get(pk=gateway_session.pk) == before


def test_it_changes_nothing_on_a_gateway_server_error(gateway, gateway_session):
    gateway.status_error(gateway_session.session_id, 500)
    before = WhatsAppSession.objects.values().get(pk=gateway_session.pk)

    result = services.session_verify(session=gateway_session)

    assert result.vps_status == "unreachable"
    assert WhatsAppSession.objects.values().get(pk=gateway_session.pk) == before


def test_it_marks_a_session_unknown_to_the_gateway_disconnected(gateway, gateway_session):
    gateway.status_error(gateway_session.session_id, 404, {"error": "Session not found"})

    result = services.session_verify(session=gateway_session)

    assert result.vps_status == "not_found"
    assert result.session.status == Status.DISCONNECTED
    assert "not found at the gateway" in result.session.last_error


def test_it_stores_connected_and_the_number_on_verify(gateway, organization):
    old = factories.session_create(organization=organization, phone_number=P)
    new = factories.session_create(organization=organization, status=Status.CONNECTING)
    gateway.status(new.session_id, "connected", phone=P)

    result = services.session_verify(session=new)

    old.refresh_from_db()
    assert result.session.status == Status.CONNECTED
    assert result.session.phone_number == P
    assert old.phone_number is None


def test_it_verifies_many_and_counts_outcomes(gateway, organization):
    up = factories.session_create(organization=organization)
    down = factories.session_create(organization=organization)
    lost = factories.session_create(organization=organization)
    gateway.status(up.session_id, "connected", phone=P)
    gateway.status(down.session_id, "disconnected", error="gone")
    gateway.status_unreachable(lost.session_id)

    counts = services.session_verify_many(session_ids=[up.pk, down.pk, lost.pk])

    assert counts == {
        "checked": 3,
        "connected": 1,
        "connecting": 0,
        "disconnected": 1,
        "unreachable": 1,
    }


# --- create / logout / reconnect / QR ---------------------------------------------------------------


def test_it_creates_a_connecting_session_at_the_gateway(gateway, organization):
    gateway.create()

    session = services.session_create(organization=organization, name="Booking line")

    assert session.status == Status.CONNECTING
    assert session.name == "Booking line"
    assert session.session_id.startswith("wa_")
    sent = gateway.calls("POST")[0].request
    assert b'"sessionId": "' + session.session_id.encode() in sent.body


def test_it_leaves_no_row_when_the_gateway_is_down_during_connect(gateway, organization):
    gateway.create_unreachable()

    with pytest.raises(GatewayError) as excinfo:
        services.session_create(organization=organization)

    assert excinfo.value.code == "unreachable"
    assert not WhatsAppSession.objects.exists()


def test_it_leaves_no_row_when_the_gateway_refuses_to_create(gateway, organization):
    gateway.create(http_status=500, body={"error": "out of capacity"})

    with pytest.raises(GatewayError, match="out of capacity"):
        services.session_create(organization=organization)

    assert not WhatsAppSession.objects.exists()


def test_it_logs_out_and_frees_the_number(gateway, organization):
    session = factories.session_create(organization=organization, phone_number=P)
    gateway.delete(session.session_id)

    result = services.session_logout(session=session)

    assert result.status == Status.DISCONNECTED
    assert result.phone_number is None
    assert result.last_error == "Logged out from the CRM"


def test_it_logs_out_a_session_the_gateway_already_forgot(gateway, gateway_session):
    gateway.delete(gateway_session.session_id, http_status=404)

    result = services.session_logout(session=gateway_session)

    assert result.status == Status.DISCONNECTED


def test_it_keeps_the_session_when_logout_fails_at_the_gateway(gateway, gateway_session):
    gateway.delete(gateway_session.session_id, http_status=500)

    with pytest.raises(GatewayError):
        services.session_logout(session=gateway_session)

    gateway_session.refresh_from_db()
    assert gateway_session.status == Status.CONNECTED


def test_it_restarts_the_session_on_reconnect(gateway, organization):
    session = factories.session_create(
        organization=organization, status=Status.DISCONNECTED, last_error="dropped"
    )
    gateway.create(http_status=200)

    result = services.session_reconnect(session=session)

    assert result.status == Status.CONNECTING
    assert gateway.calls("POST")


def test_it_changes_nothing_when_reconnect_fails(gateway, organization):
    session = factories.session_create(organization=organization, status=Status.DISCONNECTED)
    gateway.create_unreachable()

    with pytest.raises(GatewayError):
        services.session_reconnect(session=session)

    session.refresh_from_db()
    assert session.status == Status.DISCONNECTED


def test_it_returns_the_qr_text_while_connecting(gateway, organization):
    session = factories.session_create(organization=organization, status=Status.CONNECTING)
    gateway.qr(session.session_id, "qr-abc")

    poll = services.session_poll_qr(session=session)

    assert poll.qr == "qr-abc"
    assert poll.status == Status.CONNECTING


def test_it_stores_connected_once_the_qr_is_gone_and_the_gateway_says_connected(
    gateway, organization
):
    old = factories.session_create(organization=organization, phone_number=P)
    session = factories.session_create(organization=organization, status=Status.CONNECTING)
    gateway.qr(session.session_id, None)
    gateway.status(session.session_id, "connected", phone=P)

    poll = services.session_poll_qr(session=session)

    old.refresh_from_db()
    assert poll.status == Status.CONNECTED
    assert WhatsAppSession.objects.get(pk=session.pk).status == Status.CONNECTED
    assert old.phone_number is None


def test_it_does_not_ask_the_gateway_when_the_session_is_already_connected(gateway, organization):
    session = factories.session_create(organization=organization, status=Status.CONNECTING)
    WhatsAppSession.objects.filter(pk=session.pk).update(status=Status.CONNECTED)

    poll = services.session_poll_qr(session=session)

    assert poll.status == Status.CONNECTED
    assert gateway.calls() == []


def test_it_keeps_connecting_between_two_qr_codes(gateway, organization):
    session = factories.session_create(organization=organization, status=Status.CONNECTING)
    gateway.qr(session.session_id, None)
    gateway.status(session.session_id, "connecting")

    poll = services.session_poll_qr(session=session)

    assert poll.status == Status.CONNECTING
    assert poll.qr is None
    session.refresh_from_db()
    assert session.last_error == ""


def test_it_raises_when_the_gateway_is_down_during_qr_polling(gateway, organization):
    session = factories.session_create(organization=organization, status=Status.CONNECTING)
    gateway.rsps.get(f"{gateway.url}/sessions/{session.session_id}/qr", status=502, json={})

    with pytest.raises(GatewayError):
        services.session_poll_qr(session=session)

    session.refresh_from_db()
    assert session.status == Status.CONNECTING


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+49 151 2345-6789", "4915123456789"),
        ("4915123456789", "4915123456789"),
        ("4915123456789@s.whatsapp.net", "4915123456789"),
        ("4915123456789:12@s.whatsapp.net", "4915123456789"),
        ("", None),
        (None, None),
        ("abc", None),
        ("49151CALLME", None),  # letters are no digits, whatever a keypad says
        ("1" * 21, None),
        ("+49 151 1", None),  # too short to be a German mobile number
        ("4915123456789@lid", None),  # a privacy id hides the number
        ("\u0664\u0669151", None),  # Arabic-Indic digits: not a number we can dial
        ("\u0664\u0669\u0661\u0665\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669", None),
    ],
)
def test_it_reads_the_gateways_phone_number(raw, expected):
    assert services.gateway_phone_number(raw) == expected
