"""The Gateways page in Chromium: add a WAHA server, see its webhook secret once, check the
connection (the gateway answers through `responses`), connect a number on it."""

from __future__ import annotations

import pytest

from gateways_app.models import WhatsAppGateway

pytestmark = pytest.mark.browser

WAHA = "http://waha-browser.test:3000"


def test_an_owner_adds_and_checks_a_gateway(
    logged_in_page, live_server, mocked_gateway, screenshot
):
    page = logged_in_page
    mocked_gateway.get(f"{WAHA}/api/sessions", status=401, json={"message": "Unauthorized"})

    page.click("text=Gateways")
    page.wait_for_url("**/settings/gateways/")
    page.fill("input[name=name]", "WAHA Berlin")
    page.select_option("select[name=kind]", "waha")
    page.fill("input[name=base_url]", WAHA)
    page.fill("input[name=api_key]", "browser-secret-api-key")
    page.check("input[name=waha_single_session]")
    page.click("text=Add gateway")

    gateway = WhatsAppGateway.objects.get(name="WAHA Berlin")
    assert page.locator("[data-webhook-secret]").inner_text() == gateway.webhook_secret
    assert "browser-secret-api-key" not in page.content()
    row = page.locator(f"#gateway-{gateway.pk}")
    row.get_by_role("button", name="Check the connection of WAHA Berlin").click()
    result = row.locator("[data-check-problem]")
    result.wait_for()
    assert result.get_attribute("data-check-problem") == "wrong_key"
    assert "refused the API key (401)" in result.inner_text()
    screenshot("checked")

    page.goto(f"{live_server.url}/settings/whatsapp/")
    options = page.locator("select[name=gateway] option").all_inner_texts()
    assert options == ["Default gateway", "WAHA Berlin (WAHA)"]
