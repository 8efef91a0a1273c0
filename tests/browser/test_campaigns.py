"""Browser: create a campaign and watch it finish live; the queue page shows the late 420."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from campaigns_app import queue, selectors
from gateway_simulator import generate_groups
from groups_app.models import WhatsAppGroup
from tests import factories
from whatsapp_crm.models import OrganizationMember

pytestmark = pytest.mark.browser


class QueueRunner:
    """The queue worker, in a background thread: one pass every 0.3 s (like beat + a worker)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.errors: list[BaseException] = []

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                queue.queue_process_once()
                self.stop.wait(0.3)
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)
        finally:
            connections.close_all()

    def __enter__(self) -> QueueRunner:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.errors, self.errors


@pytest.fixture
def demo_setup(settings, logged_in_page, live_gateway_simulator):
    settings.QUEUE_SESSION_RATE_PER_MINUTE = 0
    organization = OrganizationMember.objects.get(user__username="browser").organization
    session = factories.session_create(
        organization=organization, session_id="wa_demo_browser", name="Label phone"
    )
    for g in generate_groups(session.session_id, 30):
        WhatsAppGroup.objects.create(
            organization=organization,
            session=session,
            group_jid=g["id"],
            group_name=g["subject"],
            participant_count=g["size"],
            is_community=g["isCommunity"],
            is_community_announce=g["isCommunityAnnounce"],
        )
    return organization, session


def test_it_creates_a_campaign_and_watches_it_finish(
    demo_setup, logged_in_page, live_server, live_gateway_simulator, screenshot
):
    page = logged_in_page
    page.goto(f"{live_server.url}/campaigns/")
    page.click("text=New campaign")
    page.wait_for_url("**/campaigns/new/")

    # Community parents are listed but cannot be picked.
    parents = page.locator("#group-picker input[type=checkbox][disabled]")
    assert parents.count() == 2
    page.fill("input[name=name]", "Summer tour")
    page.fill("textarea[name=message]", "The summer tour dates are out!")
    boxes = page.locator("#group-picker input[name=group_ids]")
    assert boxes.count() == 28
    for i in range(5):
        boxes.nth(i).check()
    screenshot("new")
    page.click("button:has-text('Create campaign')")
    page.wait_for_url("**/campaigns/*/")
    assert page.locator("#campaign-status").inner_text().strip() == "Sending"
    assert page.locator("#campaign-progress[hx-trigger]").count() == 1
    screenshot("sending")

    with QueueRunner():
        page.wait_for_selector("#campaign-progress[data-status=sent]", timeout=20_000)

    assert page.locator("#campaign-counts").inner_text().startswith("5 sent · 0 failed")
    assert page.locator("tr[data-group-status=sent]").count() == 5
    assert page.locator("td.mono", has_text="sim_").count() == 5
    # Final: it watches for late WhatsApp errors for a short while, then for delivery receipts
    # for a longer one, then polling stops.
    assert page.locator("#campaign-progress[data-watching=late-errors]").count() == 1
    screenshot("sent")
    selectors.LATE_ERROR_WINDOW_SECONDS = 0
    try:
        page.wait_for_selector("#campaign-progress[data-watching=receipts]", timeout=10_000)
        selectors.RECEIPT_WATCH_SECONDS = 0
        page.wait_for_selector("#campaign-progress:not([hx-trigger])", timeout=10_000)
    finally:
        selectors.LATE_ERROR_WINDOW_SECONDS = 30
        selectors.RECEIPT_WATCH_SECONDS = 15 * 60
    assert len(live_gateway_simulator.sends()) == 5


def test_it_shows_a_message_to_a_community_parent_turn_failed(
    demo_setup, logged_in_page, live_server, live_gateway_simulator, screenshot
):
    _, session = demo_setup
    live_gateway_simulator.late_error_delay = 4.0  # long enough to see "sent" first
    parent = next(g for g in generate_groups(session.session_id, 30) if g["isCommunity"])
    page = logged_in_page
    page.goto(f"{live_server.url}/queue/")
    page.click("text=Schedule a message")
    page.fill("input[name=recipient_jid]", parent["id"])
    page.fill("textarea[name=message]", "Hello community")
    page.click("button:has-text('Queue message')")
    page.wait_for_url("**/queue/")
    row = page.locator("#queue-table tbody tr").first
    assert row.get_attribute("data-status") == "pending"

    with QueueRunner():
        page.wait_for_selector("#queue-table tr[data-status=sent]", timeout=15_000)
        screenshot("sent")
        page.wait_for_selector("#queue-table tr[data-status=failed]", timeout=15_000)

    assert "WhatsApp error 420: Not allowed to send to a community parent group" in (
        page.locator("#queue-table tr[data-status=failed]").inner_text()
    )
    screenshot("failed")
