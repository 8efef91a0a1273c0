"""Browser tests: Playwright for Python driving Debian's Chromium against the live test server.

Screenshots go to var/screenshots/ so a person can look at them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import factories

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make in
# between are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture
def screenshot(page, request):
    """`screenshot("name")` saves <test>-<name>.png (full page) in $SCREENSHOTS_DIR, else
    var/screenshots/, and returns the path."""
    folder = Path(os.environ.get("SCREENSHOTS_DIR") or SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)

    def take(name: str) -> Path:
        path = folder / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def console_problems(page) -> list[str]:
    """Console errors and uncaught page errors of `page`, collected while the test runs."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


@pytest.fixture
def browser_user(transactional_db):
    organization = factories.organization_create(name="Browser Org")
    user = factories.user_create(
        organization=organization, username="browser", password="pw-browser-1"
    )
    return user


@pytest.fixture
def logged_in_page(page, live_server, browser_user):
    """A page logged in through the real login form."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "browser")
    page.fill("input[name=password]", "pw-browser-1")
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return page
