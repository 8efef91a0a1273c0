"""The groups section of the sessions page in a real browser, against the real simulator."""

from __future__ import annotations

import pytest

from groups_app.models import WhatsAppGroup
from tests import factories
from whatsapp_crm.models import OrganizationMember

pytestmark = pytest.mark.browser


def test_it_syncs_groups_and_shows_the_toast_and_the_list_without_reload(
    logged_in_page, live_server, live_gateway_simulator, screenshot
):
    page = logged_in_page
    organization = OrganizationMember.objects.get(user__username="browser").organization
    session = factories.session_create(
        organization=organization, session_id="wa_demo_browser", name="Demo phone"
    )
    page.goto(f"{live_server.url}/settings/whatsapp/")
    section = page.locator(f"#groups-{session.id}")
    sync = section.get_by_role("button", name="Sync Groups")
    sync.wait_for()
    assert section.locator("tr[data-group-jid]").count() == 0
    page.evaluate("window.__notReloaded = true")

    sync.click()

    toast = page.locator(".toast", has_text="Saved 28 groups")
    toast.wait_for()
    rows = section.locator("tr[data-group-jid]")
    rows.first.wait_for()
    assert rows.count() == 28
    assert section.locator(".tag", has_text="Announcement").count() == 3
    assert "Nova Lights Community" not in section.inner_text()
    assert page.evaluate("window.__notReloaded") is True  # swapped in place, no reload
    assert WhatsAppGroup.objects.filter(session=session, is_active=True).count() == 28
    screenshot("after-sync")

    section.get_by_role("searchbox").fill("fan club")
    # Arrow functions, not bare expressions: Playwright evals bare strings, which the CSP forbids.
    page.wait_for_function(
        f"() => document.querySelectorAll('#groups-{session.id} tr[data-group-jid]').length < 28"
    )
    names = section.locator("tr[data-group-jid] td:first-child").all_inner_texts()
    assert names
    assert all("Fan Club" in name for name in names)
    screenshot("filtered")


def test_it_disables_sync_while_running_and_shows_a_failure_with_its_code(
    logged_in_page, live_server, live_gateway_simulator, screenshot
):
    page = logged_in_page
    sim = live_gateway_simulator
    organization = OrganizationMember.objects.get(user__username="browser").organization
    session = factories.session_create(
        organization=organization, session_id="wa_demo_browser_g", name="Demo phone"
    )
    groups_path = r"^/sessions/wa_demo_browser_g/groups$"
    page.goto(f"{live_server.url}/settings/whatsapp/")
    section = page.locator(f"#groups-{session.id}")
    sync = section.get_by_role("button", name="Sync Groups")
    sync.wait_for()

    sim.add_failure(path=groups_path, status=None, delay=1.5)  # slow, then answers normally
    sync.click()
    page.wait_for_function(
        f"() => document.querySelector('#groups-{session.id} [data-action=sync-groups]').disabled"
    )
    assert section.locator("[data-action=sync-groups] .spinner").is_visible()
    screenshot("running")
    page.locator(".toast", has_text="Saved 28 groups").wait_for()
    assert section.get_by_role("button", name="Sync Groups").is_enabled()

    sim.add_failure(path=groups_path, status=503, body={"error": "Session not connected"})
    section.get_by_role("button", name="Sync Groups").click()

    page.locator(".toast-error", has_text="not_connected").wait_for()
    assert "Session not connected" in section.locator("[data-sync-error]").inner_text()
    assert section.locator("tr[data-group-jid]").count() == 28  # nothing changed
    assert WhatsAppGroup.objects.filter(session=session, is_active=True).count() == 28
    screenshot("failed")
