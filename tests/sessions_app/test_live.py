"""Pages stay true while open: polled session cards (204 while nothing changed), toasts only for
changes, a moved number shown as moved, the "cannot send" banner of every page, and the logout
reason that a late gateway webhook must not overwrite."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from sessions_app import services
from sessions_app.models import WhatsAppSession
from tests import factories

Status = WhatsAppSession.Status
P = "4915123456789"
HTMX = {"HTTP_HX_REQUEST": "true"}
STATUS_WEBHOOK = "/api/webhooks/whatsapp/status/"


def toasts(response) -> list[dict]:
    header = response.headers.get("HX-Trigger")
    return json.loads(header).get("showToast", {}).get("toasts", []) if header else []


def poll_url(html: str, session: WhatsAppSession) -> str:
    """The URL the card polls, as the browser would request it."""
    match = re.search(rf'hx-get="(/settings/whatsapp/sessions/{session.id}/card/\?[^"]+)"', html)
    assert match, "the card does not poll"
    return match.group(1).replace("&amp;", "&")


def card_html(client, session: WhatsAppSession) -> str:
    """A settled card as the page shows it after verifying (the manual Refresh renders the same)."""
    response = client.get(reverse("sessions:card", args=[session.id]), **HTMX)
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def connected(organization):
    return factories.session_create(organization=organization, name="Main", phone_number=P)


def test_a_quiet_poll_answers_204_with_no_body(logged_in_client, connected):
    url = poll_url(card_html(logged_in_client, connected), connected)

    response = logged_in_client.get(url, **HTMX)

    assert response.status_code == 204
    assert response.content == b""
    # What a quiet poll costs on the wire: status line and headers only, well under 5 KB.
    wire = len(response.serialize_headers()) + len(response.content)
    assert wire < 1_500, wire
    assert toasts(response) == []


def test_a_poll_after_a_webhook_returns_the_disconnected_card_with_one_toast(
    logged_in_client, webhook_client, connected
):
    url = poll_url(card_html(logged_in_client, connected), connected)
    webhook_client.post(
        STATUS_WEBHOOK,
        {
            "event": "session_status",
            "sessionId": connected.session_id,
            "status": "disconnected",
            "error": "Phone went offline",
        },
        format="json",
    )

    response = logged_in_client.get(url, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-status="disconnected"' in html
    assert "Disconnected — Reconnect needed" in html
    assert "Phone went offline" in html
    assert toasts(response) == [
        {"message": "Main is disconnected: Phone went offline.", "level": "error"}
    ]
    assert "sessionsChanged" in json.loads(response.headers["HX-Trigger"])
    # The new card polls with its own version: the next poll is quiet again.
    assert logged_in_client.get(poll_url(html, connected), **HTMX).status_code == 204


def test_a_changed_error_redraws_the_card_without_a_toast(logged_in_client, connected):
    url = poll_url(card_html(logged_in_client, connected), connected)
    services.session_mark_error(session=connected, error="Send failed: 503")

    response = logged_in_client.get(url, **HTMX)

    assert response.status_code == 200
    assert "Send failed: 503" in response.content.decode()
    assert toasts(response) == []  # toasts only for status changes


def test_the_old_card_shows_the_number_moved_to_the_new_session(logged_in_client, organization):
    old = factories.session_create(
        organization=organization,
        name="Old phone",
        status=Status.DISCONNECTED,
        phone_number=P,
        last_error="Phone went offline",
    )
    url = poll_url(card_html(logged_in_client, old), old)
    new = factories.session_create(
        organization=organization, name="New phone", status=Status.CONNECTING
    )
    services.session_mark_connected(session=new, phone_number=P)

    html = logged_in_client.get(url, **HTMX).content.decode()

    assert f"+{P}</strong>" not in html  # the card no longer claims the number …
    assert "moved to New phone" in html  # … it says where it went
    assert "data-moved-note" in html
    assert "Reconnect</button>" not in html
    # The history says the same: no number for the old session.
    history = logged_in_client.get(reverse("sessions:history")).content.decode()
    old_row = history[history.index(f'id="history-{old.id}"') :]
    old_row = old_row[: old_row.index("</tr>")]
    assert P not in old_row


def test_settled_cards_poll_and_connecting_cards_poll_the_qr_code(logged_in_client, organization):
    down = factories.session_create(
        organization=organization, status=Status.DISCONNECTED, phone_number=P
    )
    new = factories.session_create(organization=organization, status=Status.CONNECTING)

    html = logged_in_client.get("/settings/whatsapp/").content.decode()

    assert reverse("sessions:card", args=[down.id]) in html
    assert reverse("sessions:card", args=[new.id]) not in html
    assert reverse("sessions:qr", args=[new.id]) in html


def test_the_card_poll_refuses_another_organization(logged_in_client, other_organization):
    foreign = factories.session_create(organization=other_organization)

    assert logged_in_client.get(reverse("sessions:card", args=[foreign.id])).status_code == 404


def test_a_bad_shown_number_is_ignored(logged_in_client, connected):
    url = reverse("sessions:card", args=[connected.id])

    response = logged_in_client.get(url, {"p": "x" * 500 + "\x00", "v": "\x00"}, **HTMX)

    assert response.status_code == 200
    assert "moved" not in response.content.decode()


# --- the banner of every page ---------------------------------------------------------------------


def test_every_page_shows_a_banner_while_a_number_is_down(logged_in_client, organization):
    factories.session_create(
        organization=organization,
        name="Office",
        status=Status.DISCONNECTED,
        phone_number=P,
        last_error="Phone went offline",
    )

    for path in ("/", "/settings/whatsapp/", "/queue/", "/artists/"):
        html = logged_in_client.get(path).content.decode()
        banner = html[html.index("data-sessions-down=") :]
        banner = banner[: banner.index("</div>")]
        assert "1 number cannot send" in banner, path
        assert "Office (+4915123456789): disconnected — Phone went offline" in banner, path
        assert 'href="/settings/whatsapp/"' in banner, path


def test_no_banner_while_every_number_is_connected(logged_in_client, connected, organization):
    factories.session_create(organization=organization, status=Status.CONNECTING)  # a new one

    html = logged_in_client.get("/").content.decode()

    assert 'id="sessions-down-banner"' in html  # there, polling, but empty
    assert "cannot send" not in html


def test_the_banner_poll_is_quiet_until_a_number_goes_down(logged_in_client, connected):
    html = logged_in_client.get("/").content.decode()
    url = re.search(r'hx-get="(/settings/whatsapp/sessions/down-banner/\?v=\w+)"', html).group(1)

    quiet = logged_in_client.get(url, **HTMX)
    services.session_mark_disconnected(session=connected, error="Phone went offline")
    changed = logged_in_client.get(url, **HTMX)

    assert quiet.status_code == 204 and quiet.content == b""
    assert changed.status_code == 200
    assert "1 number cannot send" in changed.content.decode()


def test_the_banner_shows_nothing_of_another_organization(client, other_user, connected):
    services.session_mark_disconnected(session=connected, error="Phone went offline")
    client.force_login(other_user)

    assert "cannot send" not in client.get("/").content.decode()


# --- logging out keeps its reason -----------------------------------------------------------------


def test_the_gateways_disconnect_webhook_after_our_logout_keeps_our_reason(
    logged_in_client, webhook_client, gateway, connected
):
    gateway.delete(connected.session_id)
    logged_in_client.post(reverse("sessions:logout", args=[connected.id]), **HTMX)

    # The gateway's echo of the logout, in the same second.
    response = webhook_client.post(
        STATUS_WEBHOOK,
        {"event": "session_status", "sessionId": connected.session_id, "status": "disconnected"},
        format="json",
    )

    assert response.status_code == 200
    connected.refresh_from_db()
    assert connected.status == Status.DISCONNECTED
    assert connected.last_error == "Logged out from the CRM"
    history = logged_in_client.get(reverse("sessions:history")).content.decode()
    assert "Logged out from the CRM" in history
    assert "Disconnected at gateway" not in history


def test_a_verification_after_our_logout_keeps_our_reason(gateway, connected):
    gateway.delete(connected.session_id)
    services.session_logout(session=connected)
    gateway.status_error(connected.session_id, 404, {"error": "Session not found"})

    result = services.session_verify(session=connected)

    assert result.session.status == Status.DISCONNECTED
    assert result.session.last_error == "Logged out from the CRM"


def test_a_disconnect_after_a_reconnect_records_the_new_reason(connected):
    """Only the echo of our logout is ignored: once reconnected, a drop says why again."""
    services.session_mark_disconnected(session=connected, error=None)
    WhatsAppSession.objects.filter(pk=connected.pk).update(
        last_error=services.LOGGED_OUT, last_error_at=timezone.now()
    )
    services.session_mark_connecting(session=connected)

    dropped = services.session_mark_disconnected(session=connected, error="Phone went offline")

    assert dropped.last_error == "Phone went offline"


# --- the connect form -----------------------------------------------------------------------------


def test_connecting_asks_the_page_to_clear_the_form_and_hides_the_empty_note(
    logged_in_client, gateway, organization
):
    gateway.create()
    gateway.rsps.get(re.compile(rf"{gateway.url}/sessions/wa_\w+/qr"), json={"qr": "QR-TEXT"})

    response = logged_in_client.post(reverse("sessions:create"), {"name": "Tour"}, **HTMX)

    events = json.loads(response.headers["HX-Trigger"])
    assert "sessionCreated" in events
    html = response.content.decode()
    # The page always has #sessions-empty, so this out-of-band swap always finds its target.
    assert '<div class="card empty" id="sessions-empty" hidden hx-swap-oob="true"></div>' in html
    page = logged_in_client.get("/settings/whatsapp/").content.decode()
    assert '<div class="card empty" id="sessions-empty" hidden></div>' in page
    assert 'data-reset-on="sessionCreated"' in page


def test_the_empty_page_explains_how_to_connect(logged_in_client):
    html = logged_in_client.get("/settings/whatsapp/").content.decode()

    assert 'id="sessions-empty">No WhatsApp number is connected.' in html


def test_a_card_drawn_right_after_a_write_polls_quietly(logged_in_client, gateway, organization):
    """The version of a card drawn from the object a service returned equals the stored one's."""
    session = factories.session_create(organization=organization, name="Main")
    gateway.status(session.session_id, "connected", phone=P)

    html = logged_in_client.post(
        reverse("sessions:verify", args=[session.id]), **HTMX
    ).content.decode()

    assert logged_in_client.get(poll_url(html, session), **HTMX).status_code == 204
