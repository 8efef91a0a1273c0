from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_it_logs_in_and_shows_the_layout(page, live_server, browser_user, screenshot):
    page.goto(f"{live_server.url}/")
    assert "/accounts/login/" in page.url  # anonymous users land on the login page
    page.fill("input[name=username]", "browser")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    assert page.locator(".alert-error").is_visible()

    page.fill("input[name=username]", "browser")
    page.fill("input[name=password]", "pw-browser-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    nav = page.locator("nav.nav")
    for label in ("Start", "Sessions & Groups", "Campaigns", "Queue", "Artists"):
        assert nav.get_by_text(label).is_visible()
    assert page.locator(".who .org").inner_text() == "Browser Org"
    assert page.locator('nav.nav a[aria-current="page"]').inner_text() == "Start"
    # htmx is served from our own static files, not a CDN.
    assert page.evaluate("typeof window.htmx") == "object"
    scripts = page.eval_on_selector_all("script[src]", "els => els.map(e => e.src)")
    assert all(src.startswith(live_server.url) for src in scripts)
    screenshot("layout")

    page.evaluate("window.showToast('Hello from a toast', 'success')")
    assert page.locator(".toast-success").inner_text() == "Hello from a toast"

    page.click("text=Log out")
    page.wait_for_url("**/accounts/login/")
