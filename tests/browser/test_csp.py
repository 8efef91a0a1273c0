"""Every page works under the Content-Security-Policy: no violation in the console, htmx alive,
and /api/docs/ renders Swagger UI offline (from the sidecar package, no CDN)."""

from __future__ import annotations

import pytest

from artists_app.models import Artist
from campaigns_app.models import NotificationCampaign
from groups_app.models import WhatsAppGroup
from tests import factories
from whatsapp_crm.models import OrganizationMember

pytestmark = pytest.mark.browser


@pytest.fixture
def data(browser_user):
    organization = OrganizationMember.objects.get(user=browser_user).organization
    session = factories.session_create(organization=organization, name="Main")
    WhatsAppGroup.objects.create(
        organization=organization,
        session=session,
        group_jid="120363000000000001@g.us",
        group_name="Fans",
    )
    campaign = NotificationCampaign.objects.create(
        organization=organization, session=session, name="Hello", message="Hi"
    )
    Artist.objects.create(
        organization=organization, name="Nina", whatsapp_group_id="120363000000000001"
    )
    return campaign


def test_every_page_runs_under_the_csp(logged_in_page, live_server, data, screenshot):
    page = logged_in_page
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    paths = [
        "/settings/whatsapp/",
        "/campaigns/",
        "/campaigns/new/",
        f"/campaigns/{data.pk}/",
        "/queue/",
        "/artists/",
        "/settings/team/",
        "/settings/api-token/",
    ]
    for path in paths:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        assert page.evaluate("typeof window.htmx") == "object", path
    screenshot("artists")

    page.goto(f"{live_server.url}/campaigns/new/")
    page.wait_for_load_state("networkidle")
    boxes = page.locator("#group-picker input[name=group_ids]")
    if boxes.count():
        page.click("text=Select all")
        assert all(boxes.nth(i).is_checked() for i in range(boxes.count()))

    violations = [p for p in problems if "Content Security Policy" in p or "Refused" in p]
    assert not violations, violations
    assert not problems, problems


def test_the_api_docs_render_offline(logged_in_page, live_server, screenshot):
    page = logged_in_page
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(live_server.url) else None,
    )

    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)

    assert "whatsapp_crm API" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock").count() > 10
    assert outside == []
    assert not [p for p in problems if "Content Security Policy" in p], problems
    screenshot("api-docs")
