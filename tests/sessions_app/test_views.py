"""The sessions page and its htmx partials."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import WhatsAppSession
from tests import factories

Status = WhatsAppSession.Status
P = "4915123456789"
HTMX = {"HTTP_HX_REQUEST": "true"}


def toasts(response) -> list[dict]:
    header = response.headers.get("HX-Trigger")
    return json.loads(header).get("showToast", {}).get("toasts", []) if header else []


def events(response) -> dict:
    header = response.headers.get("HX-Trigger")
    return json.loads(header) if header else {}


def test_it_renders_verifying_badges_that_verify_on_load(logged_in_client, organization):
    a = factories.session_create(organization=organization, name="Main", phone_number=P)
    b = factories.session_create(organization=organization, name="Second")

    response = logged_in_client.get("/settings/whatsapp/")

    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("Verifying…") >= 2
    for session in (a, b):
        verify_url = reverse("sessions:verify", args=[session.id])
        assert f'hx-post="{verify_url}" hx-trigger="load"' in html
    assert "+4915123456789" in html


def test_it_renders_stored_states_without_verifying_them(logged_in_client, organization):
    session = factories.session_create(
        organization=organization,
        status=Status.DISCONNECTED,
        phone_number=P,
        last_error="Connection closed by WhatsApp",
        last_error_at=timezone.now() - timedelta(hours=2),
    )

    html = logged_in_client.get("/settings/whatsapp/").content.decode()

    assert "Disconnected — Reconnect needed" in html
    assert "Connection closed by WhatsApp" in html
    assert "2\xa0hours ago" in html
    assert "Verifying…" not in html.split('<div id="session-cards"')[1]
    assert f'hx-post="{reverse("sessions:verify", args=[session.id])}" hx-trigger' not in html


def test_it_lists_the_history_newest_first_including_superseded_sessions(
    logged_in_client, organization
):
    old = factories.session_create(
        organization=organization,
        name="Old number",
        status=Status.DISCONNECTED,
        last_error="Logged out on the phone",
        last_error_at=timezone.now() - timedelta(days=3),
    )
    new = factories.session_create(organization=organization, name="New number")

    response = logged_in_client.get("/settings/whatsapp/")

    html = response.content.decode()
    history = html[html.index("Session history") :]
    assert history.index(f"history-{new.id}") < history.index(f"history-{old.id}")
    assert "Logged out on the phone" in history
    assert "3\xa0days ago" in history
    # The superseded session is history only: no card for it.
    assert f'id="session-block-{old.id}"' not in html
    assert f'id="session-block-{new.id}"' in html


def test_it_explains_the_statuses(logged_in_client, organization):
    html = logged_in_client.get("/settings/whatsapp/").content.decode()

    assert "Gateway unreachable" in html
    assert "Disconnected — Reconnect needed" in html
    assert "No WhatsApp number is connected" in html


def test_it_loads_the_groups_section_of_each_session(logged_in_client, organization):
    session = factories.session_create(organization=organization)
    groups_url = reverse("groups:section", args=[session.id])

    html = logged_in_client.get("/settings/whatsapp/").content.decode()

    assert f'id="groups-{session.id}" hx-get="{groups_url}" hx-trigger="load"' in html


def test_it_hides_other_organizations_sessions(logged_in_client, other_organization):
    foreign = factories.session_create(organization=other_organization, name="Foreign")

    html = logged_in_client.get("/settings/whatsapp/").content.decode()

    assert foreign.session_id not in html
    for name in ("verify", "reconnect", "logout"):
        url = reverse(f"sessions:{name}", args=[foreign.id])
        assert logged_in_client.post(url, **HTMX).status_code == 404
    assert logged_in_client.get(reverse("sessions:qr", args=[foreign.id])).status_code == 404


def test_it_requires_login(client):
    response = client.get("/settings/whatsapp/")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


# --- verify ----------------------------------------------------------------------------------------


def test_it_swaps_in_connected_after_verifying(logged_in_client, gateway, gateway_session):
    gateway.status(gateway_session.session_id, "connected", phone=P)

    response = logged_in_client.post(reverse("sessions:verify", args=[gateway_session.id]), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-status="connected"' in html
    assert "Verifying…" not in html
    assert "hx-post" not in html.split(">", 1)[0]  # the swapped card does not verify again
    assert "+4915123456789" in html


def test_it_swaps_in_disconnected_with_the_error(logged_in_client, gateway, gateway_session):
    gateway.status(gateway_session.session_id, "disconnected", error="Logged out on the phone")

    response = logged_in_client.post(reverse("sessions:verify", args=[gateway_session.id]), **HTMX)

    html = response.content.decode()
    assert "Disconnected — Reconnect needed" in html
    assert "Logged out on the phone" in html
    assert "sessionsChanged" in events(response)
    assert toasts(response)[0]["level"] == "error"
    gateway_session.refresh_from_db()
    assert gateway_session.status == Status.DISCONNECTED


def test_it_shows_gateway_unreachable_and_changes_nothing(
    logged_in_client, gateway, gateway_session
):
    gateway.status_unreachable(gateway_session.session_id)

    response = logged_in_client.post(reverse("sessions:verify", args=[gateway_session.id]), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Gateway unreachable" in html
    assert 'role="alert"' in html
    assert "nothing was changed" in html
    assert toasts(response)[0]["level"] == "error"
    gateway_session.refresh_from_db()
    assert gateway_session.status == Status.CONNECTED


def test_it_confirms_a_manual_refresh(logged_in_client, gateway, gateway_session):
    gateway.status(gateway_session.session_id, "connected", phone=P)

    response = logged_in_client.post(
        reverse("sessions:verify", args=[gateway_session.id]), {"manual": "1"}, **HTMX
    )

    assert toasts(response) == [{"message": "Verified: connected.", "level": "success"}]


def test_it_redirects_without_htmx(logged_in_client, gateway, gateway_session):
    gateway.status(gateway_session.session_id, "connected", phone=P)

    response = logged_in_client.post(reverse("sessions:verify", args=[gateway_session.id]))

    assert response.status_code == 302


# --- connect / QR ----------------------------------------------------------------------------------


def test_it_connects_a_new_number_and_shows_the_qr_code(logged_in_client, gateway, organization):
    gateway.create()
    gateway.qr_any("sim-qr|abc|0")

    response = logged_in_client.post(reverse("sessions:create"), {"name": "Tour phone"}, **HTMX)

    html = response.content.decode()
    session = WhatsAppSession.objects.get(organization=organization)
    assert response.status_code == 200
    assert session.name == "Tour phone"
    assert session.status == Status.CONNECTING
    assert "<svg" in html
    assert f'id="session-block-{session.id}"' in html
    assert 'hx-trigger="every 2s"' in html
    assert reverse("sessions:qr", args=[session.id]) in html
    assert 'data-status="connected"' not in html


def test_it_shows_the_gateway_error_when_connect_fails(logged_in_client, gateway, organization):
    gateway.create_unreachable()

    response = logged_in_client.post(reverse("sessions:create"), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert response.headers["HX-Retarget"] == "#connect-errors"
    assert "alert-error" in html
    assert "Gateway unreachable" in html
    assert toasts(response)[0]["level"] == "error"
    assert not WhatsAppSession.objects.exists()


def test_it_keeps_showing_the_qr_code_while_connecting(logged_in_client, gateway, organization):
    session = factories.session_create(organization=organization, status=Status.CONNECTING)
    gateway.qr(session.session_id, "sim-qr|x|1")

    response = logged_in_client.get(reverse("sessions:qr", args=[session.id]), **HTMX)

    html = response.content.decode()
    assert "<svg" in html
    assert 'hx-trigger="every 2s"' in html
    assert "HX-Retarget" not in response.headers


def test_it_says_connected_only_after_storing_it(logged_in_client, gateway, organization):
    old = factories.session_create(organization=organization, phone_number=P)
    session = factories.session_create(organization=organization, status=Status.CONNECTING)
    gateway.qr(session.session_id, None)
    gateway.status(session.session_id, "connected", phone=P)

    response = logged_in_client.get(reverse("sessions:qr", args=[session.id]), **HTMX)

    html = response.content.decode()
    session.refresh_from_db()
    old.refresh_from_db()
    assert session.status == Status.CONNECTED
    assert session.phone_number == P
    assert old.phone_number is None
    assert 'data-status="connected"' in html
    assert response.headers["HX-Retarget"] == f"#session-block-{session.id}"
    assert toasts(response)[0]["message"] == "Connected as +4915123456789."


def test_it_keeps_polling_and_shows_the_error_when_the_gateway_fails(
    logged_in_client, gateway, organization
):
    session = factories.session_create(organization=organization, status=Status.CONNECTING)
    gateway.rsps.get(f"{gateway.url}/sessions/{session.session_id}/qr", status=500, json={})

    response = logged_in_client.get(reverse("sessions:qr", args=[session.id]), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Gateway error 500" in html
    assert 'hx-trigger="every 2s"' in html


# --- reconnect / logout ----------------------------------------------------------------------------


def test_it_reconnects_and_shows_a_new_qr_code(logged_in_client, gateway, organization):
    session = factories.session_create(
        organization=organization, status=Status.DISCONNECTED, phone_number=P
    )
    gateway.create(http_status=200)
    gateway.qr(session.session_id, "sim-qr|y|0")

    response = logged_in_client.post(reverse("sessions:reconnect", args=[session.id]), **HTMX)

    html = response.content.decode()
    session.refresh_from_db()
    assert session.status == Status.CONNECTING
    assert "<svg" in html
    assert "Connecting — scan the QR code" in html


def test_it_shows_why_reconnect_failed(logged_in_client, gateway, organization):
    session = factories.session_create(organization=organization, status=Status.DISCONNECTED)
    gateway.create_unreachable()

    response = logged_in_client.post(reverse("sessions:reconnect", args=[session.id]), **HTMX)

    html = response.content.decode()
    assert "Could not restart the session" in html
    assert toasts(response)[0]["level"] == "error"
    session.refresh_from_db()
    assert session.status == Status.DISCONNECTED


def test_it_logs_out(logged_in_client, gateway, organization):
    session = factories.session_create(organization=organization, phone_number=P)
    gateway.delete(session.session_id)

    response = logged_in_client.post(reverse("sessions:logout", args=[session.id]), **HTMX)

    session.refresh_from_db()
    assert session.status == Status.DISCONNECTED
    assert session.phone_number is None
    assert response.headers["HX-Retarget"] == f"#session-block-{session.id}"
    assert "logged out" in response.content.decode()
    assert "sessionsChanged" in events(response)


def test_it_shows_why_logout_failed(logged_in_client, gateway, gateway_session):
    gateway.delete(gateway_session.session_id, http_status=500)

    response = logged_in_client.post(reverse("sessions:logout", args=[gateway_session.id]), **HTMX)

    assert "Could not log out" in response.content.decode()
    gateway_session.refresh_from_db()
    assert gateway_session.status == Status.CONNECTED


@pytest.mark.parametrize("name", ["verify", "reconnect", "logout"])
def test_it_refuses_get_on_actions(logged_in_client, gateway_session, name):
    response = logged_in_client.get(reverse(f"sessions:{name}", args=[gateway_session.id]))

    assert response.status_code == 405


def test_it_renders_the_history_partial(logged_in_client, organization):
    session = factories.session_create(organization=organization, name="Main")

    response = logged_in_client.get(reverse("sessions:history"), **HTMX)

    assert f"history-{session.id}" in response.content.decode()


def test_it_refreshes_the_history_when_verification_fills_in_the_number(
    logged_in_client, gateway, gateway_session
):
    gateway.status(gateway_session.session_id, "connected", phone=P)

    response = logged_in_client.post(reverse("sessions:verify", args=[gateway_session.id]), **HTMX)

    assert "sessionsChanged" in events(response)
    assert toasts(response) == []


def test_it_stays_quiet_when_verification_confirms_what_is_stored(
    logged_in_client, gateway, organization
):
    session = factories.session_create(organization=organization, phone_number=P)
    gateway.status(session.session_id, "connected", phone=P)

    response = logged_in_client.post(reverse("sessions:verify", args=[session.id]), **HTMX)

    assert events(response) == {}


def test_it_says_just_now_for_a_fresh_error(logged_in_client, organization):
    factories.session_create(
        organization=organization,
        status=Status.DISCONNECTED,
        phone_number=P,
        last_error="Connection closed by WhatsApp",
        last_error_at=timezone.now(),
    )

    html = logged_in_client.get("/settings/whatsapp/").content.decode()

    assert "Connection closed by WhatsApp · <time" in html
    assert "just now" in html
    assert "0\xa0minutes" not in html


def test_it_keeps_showing_a_send_error_on_a_session_that_stays_connected(
    logged_in_client, gateway, gateway_session
):
    from sessions_app.services import session_mark_error

    gateway_session.phone_number = P
    gateway_session.save()
    session_mark_error(session=gateway_session, error="Session not connected (send failed)")
    gateway.status(gateway_session.session_id, "connected", phone=P)

    response = logged_in_client.post(reverse("sessions:verify", args=[gateway_session.id]), **HTMX)

    html = response.content.decode()
    assert 'data-status="connected"' in html
    assert "Last error: Session not connected (send failed)" in html
    gateway_session.refresh_from_db()
    assert gateway_session.last_error == "Session not connected (send failed)"


def test_it_clears_the_old_error_when_a_dropped_session_connects_again(
    logged_in_client, gateway, gateway_session
):
    gateway_session.status = Status.DISCONNECTED
    gateway_session.last_error = "Phone went offline"
    gateway_session.last_error_at = timezone.now()
    gateway_session.save()
    gateway.status(gateway_session.session_id, "connected", phone=P)

    html = logged_in_client.post(
        reverse("sessions:verify", args=[gateway_session.id]), **HTMX
    ).content.decode()

    assert 'data-status="connected"' in html
    assert "Phone went offline" not in html
    gateway_session.refresh_from_db()
    assert (gateway_session.last_error, gateway_session.last_error_at) == ("", None)
