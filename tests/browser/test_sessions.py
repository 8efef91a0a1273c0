"""The sessions page in a real browser against the real simulator: the page tells the truth."""

from __future__ import annotations

import pytest

from gateway_simulator import demo_phone_number
from sessions_app.models import WhatsAppSession
from tests import factories
from tests.helpers import organization_of

pytestmark = pytest.mark.browser

Status = WhatsAppSession.Status


def test_it_verifies_on_load_and_shows_a_disconnect_after_refresh(
    logged_in_page, live_server, live_gateway_simulator, screenshot
):
    page = logged_in_page
    sim = live_gateway_simulator
    session = factories.session_create(
        organization=organization_of("browser"), session_id="wa_demo_browser", name="Demo phone"
    )
    # Slow the status call down so the "Verifying…" state is visible long enough to see.
    sim.add_failure(path=r"^/sessions/wa_demo_browser/status$", status=None, delay=1.5)

    page.goto(f"{live_server.url}/settings/whatsapp/")
    card = page.locator(f"#session-{session.id}")
    badge = card.locator(".session-status .badge")
    assert badge.inner_text() == "Verifying…"
    assert card.locator(".spinner").count() >= 1
    screenshot("verifying")

    card.locator('[data-status="connected"]').wait_for()
    assert badge.inner_text() == "Connected"
    phone = demo_phone_number("wa_demo_browser")
    assert f"+{phone}" in card.inner_text()
    page.evaluate("window.__notReloaded = true")
    screenshot("connected")

    sim.disconnect("wa_demo_browser", error="Connection closed by WhatsApp")
    page.locator(f"#session-{session.id}").get_by_role("button", name="Refresh").click()

    card = page.locator(f"#session-{session.id}")
    card.locator('[data-status="disconnected"]').wait_for()
    assert card.locator(".session-status .badge").inner_text() == "Disconnected — Reconnect needed"
    assert "Connection closed by WhatsApp" in card.locator(".session-error").inner_text()
    assert page.evaluate("window.__notReloaded") is True
    session.refresh_from_db()
    assert session.status == Status.DISCONNECTED
    # The history table follows (sessionsChanged) without a reload.
    page.locator(f"#history-{session.id} .badge", has_text="Disconnected").wait_for()
    screenshot("disconnected")


def test_it_shows_gateway_unreachable(
    logged_in_page, live_server, live_gateway_simulator, screenshot
):
    page = logged_in_page
    session = factories.session_create(
        organization=organization_of("browser"), session_id="wa_demo_down", name="Office phone"
    )
    live_gateway_simulator.add_failure(path=r"/status$", status=0, times=5)

    page.goto(f"{live_server.url}/settings/whatsapp/")

    card = page.locator(f"#session-{session.id}")
    card.locator('[data-status="unreachable"]').wait_for()
    assert "nothing was changed" in card.locator(".alert").inner_text()
    page.locator(".toast-error").first.wait_for()
    session.refresh_from_db()
    assert session.status == Status.CONNECTED
    screenshot("unreachable")


def test_it_connects_a_new_number_through_the_qr_code(
    logged_in_page, live_server, live_gateway_simulator, screenshot
):
    page = logged_in_page
    live_gateway_simulator.connect_after = 3.0  # time to look at the QR code
    page.goto(f"{live_server.url}/settings/whatsapp/")
    page.evaluate("window.__notReloaded = true")

    page.get_by_placeholder("Name (optional)").fill("Tour phone")
    page.get_by_role("button", name="Connect new number").click()

    block = page.locator(".session-block").first
    block.locator(".qr svg").wait_for()
    assert "Connecting — scan the QR code" in block.inner_text()
    session = WhatsAppSession.objects.get(organization=organization_of("browser"))
    assert session.status == Status.CONNECTING
    screenshot("qr")

    # The simulator connects after 3 s; polling (every 2 s) shows it once the database says so.
    block.locator('[data-status="connected"]').wait_for(timeout=15_000)
    session.refresh_from_db()
    assert session.status == Status.CONNECTED
    assert f"+{session.phone_number}" in block.inner_text()
    assert page.evaluate("window.__notReloaded") is True
    screenshot("connected")


def test_it_turns_verifying_into_disconnected_for_a_session_that_dropped_meanwhile(
    logged_in_page, live_server, gateway_simulator, screenshot
):
    """Stored "connected", dropped at the gateway while nobody looked (no webhook came back):
    the page must not say Connected — it verifies on load and shows the truth."""
    page = logged_in_page
    session = factories.session_create(
        organization=organization_of("browser"), session_id="wa_demo_stale", name="Stale phone"
    )
    gateway_simulator.disconnect("wa_demo_stale", error="Logged out on the phone")
    gateway_simulator.add_failure(path=r"^/sessions/wa_demo_stale/status$", status=None, delay=1.0)

    page.goto(f"{live_server.url}/settings/whatsapp/")
    card = page.locator(f"#session-{session.id}")
    assert card.locator(".session-status .badge").inner_text() == "Verifying…"

    card = page.locator(f"#session-{session.id}")
    card.locator('[data-status="disconnected"]').wait_for()
    assert "Logged out on the phone" in card.locator(".session-error").inner_text()
    assert page.locator('[data-status="connected"]').count() == 0
    session.refresh_from_db()
    assert session.status == Status.DISCONNECTED
    assert session.last_error == "Logged out on the phone"
    screenshot("dropped")
