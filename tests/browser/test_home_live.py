"""The start page in a real browser: its numbers are the database's, they change by themselves
(no reload) when queue rows change state, a quiet poll costs well under 5 KB, and each number
opens the queue filtered to exactly the rows it counts."""

from __future__ import annotations

import pytest
from django.utils import timezone

from campaigns_app import queue, services
from campaigns_app.models import NotificationCampaign, ScheduledWhatsAppMessage
from gateway_simulator import generate_groups
from tests import factories
from tests.campaigns_app.conftest import group_create
from tests.helpers import organization_of

pytestmark = pytest.mark.browser

Q = ScheduledWhatsAppMessage.Status
METRICS = ("sent", "failed", "needs_review", "waiting")


def _database_numbers(organization) -> dict[str, int]:
    """What the start page must show, counted here independently of home.py."""
    today = timezone.localdate()
    rows = ScheduledWhatsAppMessage.objects.filter(organization=organization)
    return {
        "sent": sum(
            1
            for r in rows.filter(status=Q.SENT)
            if r.sent_at and timezone.localtime(r.sent_at).date() == today
        ),
        "failed": sum(
            1
            for r in rows.filter(status=Q.FAILED)
            if timezone.localtime(r.updated_at).date() == today
        ),
        "needs_review": rows.filter(status=Q.NEEDS_REVIEW).count(),
        "waiting": rows.filter(status=Q.PENDING).count(),
    }


def _shown_numbers(page) -> dict[str, int]:
    return {
        name: int(page.locator(f'[data-metric="{name}"] .metric').inner_text()) for name in METRICS
    }


@pytest.fixture
def campaign(logged_in_page):
    organization = organization_of("browser")
    session = factories.session_create(
        organization=organization, session_id="wa_demo_home_browser", name="Main"
    )
    groups = [
        group_create(
            organization=organization, session=session, group_jid=g["id"], group_name=g["subject"]
        )
        for g in generate_groups(session.session_id, 30)
        if not g["isCommunity"]
    ][:3]
    return services.campaign_create(
        organization=organization,
        session=session,
        name="Tour dates",
        message="New dates!",
        group_ids=[g.id for g in groups],
    )


def test_the_numbers_follow_the_queue_without_a_reload(
    logged_in_page, live_server, gateway_simulator, campaign, screenshot, console_problems
):
    page = logged_in_page
    problems = console_problems
    organization = organization_of("browser")
    gateway_simulator.add_failure(path="^/send$", status=400, times=1)

    page.goto(f"{live_server.url}/")
    page.wait_for_load_state("networkidle")
    page.evaluate("() => { window.__notReloaded = true; }")
    assert _shown_numbers(page) == _database_numbers(organization)
    assert _shown_numbers(page) == {"sent": 0, "failed": 0, "needs_review": 0, "waiting": 3}
    progress = page.locator(f'[data-campaign="{campaign.pk}"] [data-progress]')
    assert "0 sent · 0 failed of 3 groups" in progress.inner_text()
    screenshot("before")

    # A quiet poll: 204, no body, a few hundred bytes all told.
    with page.expect_response(lambda r: "/home/activity/" in r.url, timeout=10_000) as polled:
        pass
    sizes = polled.value.request.sizes()
    assert polled.value.status == 204
    assert sizes["responseBodySize"] == 0
    assert sum(sizes.values()) < 5_000, sizes

    # Two rows change state behind the page's back: one fails, one is sent.
    queue.queue_process_once(limit=1, max_batches=2)
    expected = _database_numbers(organization)
    assert expected == {"sent": 1, "failed": 1, "needs_review": 0, "waiting": 1}
    page.locator('[data-metric="sent"] .metric', has_text="1").wait_for(timeout=10_000)
    page.wait_for_function(
        "() => document.querySelector('[data-metric=\"waiting\"] .metric').textContent === '1'",
        timeout=10_000,
    )
    assert _shown_numbers(page) == expected
    assert "1 sent · 1 failed of 3 groups" in progress.inner_text()
    assert page.evaluate("() => window.__notReloaded === true")
    screenshot("after-two-sends")

    # The last one: the campaign is over and leaves the list; still no reload.
    queue.queue_process_once()
    progress.wait_for(state="detached", timeout=10_000)
    page.wait_for_function(
        "() => document.querySelector('[data-metric=\"sent\"] .metric').textContent === '2'",
        timeout=10_000,
    )
    assert _shown_numbers(page) == _database_numbers(organization)
    campaign.refresh_from_db()
    assert campaign.status == NotificationCampaign.Status.PARTIAL_FAILURE
    assert page.evaluate("() => window.__notReloaded === true")
    screenshot("after-all-sends")

    # Each number opens the queue filtered to exactly the rows it counts.
    for name, count in (("sent", 2), ("failed", 1)):
        page.goto(f"{live_server.url}/")
        page.click(f'[data-metric="{name}"]')
        page.wait_for_url(f"**/queue/?status={name}&day=*")
        assert page.locator("#queue-table tbody tr").count() == count
        assert page.locator(f"#queue-table tbody tr[data-status={name}]").count() == count
        assert page.locator("[data-day-filter]").is_visible()
    screenshot("queue-failed-today")
    assert not problems, problems
