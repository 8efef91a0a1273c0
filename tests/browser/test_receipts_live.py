"""Browser: delivery receipts reach an open campaign page without a reload (INTERFACE §8).

The campaign is sent through the real gateway simulator with its auto-acks off, so nothing is
delivered until the test says so; the page is already open by then. The receipts are then posted
by the simulator itself, as our protocol's `message-ack` webhooks to the live server (with the
webhook API key), in two waves: deliveries, then reads. After each wave the page's per-group and
total numbers must become the database's within a bounded wait, the page never reloading.

Screenshots go to $SCREENSHOTS_DIR when set (else var/screenshots/, like the other tests)."""

from __future__ import annotations

import time

import pytest
from django.db.models import Count, Q

from campaigns_app import queue, selectors, services
from campaigns_app.models import (
    NotificationCampaign,
    NotificationCampaignGroup,
    WhatsAppMessageReceipt,
)
from gateway_simulator import generate_groups, generate_whapi_group
from groups_app.models import WhatsAppGroup
from tests import factories
from tests.helpers import organization_of

pytestmark = pytest.mark.browser

SESSION_ID = "wa_demo_receipts"
# How long a wave of acks may take to show: the page polls every 3 s (late-error watch) or 5 s
# (receipt watch) once the campaign is final, plus the webhooks' own trip.
UPDATE_TIMEOUT_MS = 15_000


@pytest.fixture
def receipts_campaign(settings, logged_in_page, live_gateway_simulator):
    """A campaign of three normal groups of a connected demo session, not sent yet."""
    settings.QUEUE_SESSION_RATE_PER_MINUTE = 0
    assert live_gateway_simulator.auto_acks is False  # only the acks the test posts arrive
    organization = organization_of("browser")
    session = factories.session_create(
        organization=organization, session_id=SESSION_ID, name="Label phone"
    )
    normal = [g for g in generate_groups(SESSION_ID, 12) if not g["isCommunity"]][:3]
    rows = [
        WhatsAppGroup.objects.create(
            organization=organization,
            session=session,
            group_jid=g["id"],
            group_name=g["subject"],
            participant_count=g["size"],
        )
        for g in normal
    ]
    return services.campaign_create(
        organization=organization,
        session=session,
        name="Receipts live",
        message="Tickets are on sale now!",
        group_ids=[g.id for g in rows],
    )


def _members(group_jid: str, n: int) -> list[str]:
    """The first `n` phone numbers of the group, as the simulated WhatsApp knows them."""
    ids = [p["id"] for p in generate_whapi_group(group_jid)["participants"]]
    return [i for i in ids if "@" not in i][:n]


def _send_all(campaign: NotificationCampaign) -> None:
    """The queue worker's passes, until the campaign is final (bounded)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        queue.queue_process_once()
        campaign.refresh_from_db()
        if campaign.is_final:
            return
        time.sleep(0.2)
    raise AssertionError(f"campaign still {campaign.status} after 20 s")


def _wait_for_receipt_rows(expected: int) -> None:
    """Until the simulator's webhooks have all been applied (rows of whatsapp_message_receipts)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if WhatsAppMessageReceipt.objects.count() >= expected:
            return
        time.sleep(0.1)
    raise AssertionError(
        f"{WhatsAppMessageReceipt.objects.count()} receipt rows, expected {expected}"
    )


def _db_numbers(campaign: NotificationCampaign) -> dict[str, tuple[int, int]]:
    """Each group's (delivered, read), recounted from the receipt rows and checked against the
    counts stored on the group; plus "total" from the campaign row."""
    numbers: dict[str, tuple[int, int]] = {}
    read = Q(status__in=["read", "played"])
    for group in NotificationCampaignGroup.objects.filter(campaign=campaign):
        counted = WhatsAppMessageReceipt.objects.filter(message_id=group.message_id).aggregate(
            delivered=Count("participant", distinct=True),
            read=Count("participant", distinct=True, filter=read),
        )
        stored = (group.delivered_count, group.read_count)
        assert stored == (counted["delivered"], counted["read"]), group.group_jid
        numbers[group.group_jid] = stored
    campaign.refresh_from_db()
    total = (campaign.delivered_count, campaign.read_count)
    assert total == tuple(map(sum, zip(*numbers.values(), strict=True))), total
    numbers["total"] = total
    return numbers


def _assert_page_shows(page, campaign, numbers: dict[str, tuple[int, int]]) -> None:
    """Wait (bounded) until every group's cell and the totals show `numbers`, then check the
    wording exactly."""
    members = dict(
        WhatsAppGroup.objects.filter(session__session_id=SESSION_ID).values_list(
            "group_jid", "participant_count"
        )
    )
    for jid, (delivered, read) in numbers.items():
        if jid == "total":
            continue
        cell = page.locator(f'tr[data-group-jid="{jid}"] td[data-receipts]')
        page.locator(f'tr[data-group-jid="{jid}"] td[data-receipts="{delivered}/{read}"]').wait_for(
            timeout=UPDATE_TIMEOUT_MS
        )
        text = cell.inner_text().splitlines()[0]
        assert text == f"delivered {delivered} · read {read} of {members[jid]} members", text
    delivered, read = numbers["total"]
    total = page.locator(f'#campaign-receipts[data-receipts="{delivered}/{read}"]')
    total.wait_for(timeout=UPDATE_TIMEOUT_MS)
    audience = sum(members.values())
    assert total.inner_text() == f"· delivered {delivered} · read {read} of {audience} members"
    assert campaign.total_groups == len(members) == 3


def test_receipts_reach_the_open_campaign_page_without_a_reload(
    receipts_campaign,
    logged_in_page,
    live_server,
    live_gateway_simulator,
    screenshot,
    console_problems,
    monkeypatch,
):
    campaign = receipts_campaign
    page = logged_in_page
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    assert page.locator("#campaign-status").inner_text().strip() == "Sending"
    page.evaluate("() => { window.__notReloaded = true; }")

    _send_all(campaign)
    assert campaign.status == "sent"
    page.wait_for_selector("#campaign-progress[data-status=sent]", timeout=10_000)
    groups = list(NotificationCampaignGroup.objects.filter(campaign=campaign))
    assert all(g.message_id for g in groups)
    _assert_page_shows(page, campaign, _db_numbers(campaign))  # all zeros
    assert page.locator("#campaign-counts").inner_text() == (
        "3 sent · 0 failed · 0 waiting · 3 groups"
    )
    screenshot("before")

    # Wave 1, deliveries: 3 members of the first group, 2 of the second, none of the third.
    # One is spelled as a JID, and one is sent twice (a replay): each member counts once.
    first, second, third = sorted(groups, key=lambda g: g.group_name)
    sim = live_gateway_simulator
    a = _members(first.group_jid, 3)
    b = _members(second.group_jid, 2)
    for phone in a:
        sim.ack(first.message_id, "delivered", phone)
    sim.ack(first.message_id, "delivered", f"{a[0]}@s.whatsapp.net")
    sim.ack(second.message_id, "server")  # WhatsApp has it: no receipt, no number
    for phone in b:
        sim.ack(second.message_id, "delivered", phone)
    _wait_for_receipt_rows(5)
    wave1 = _db_numbers(campaign)
    assert (wave1[first.group_jid], wave1[second.group_jid], wave1[third.group_jid]) == (
        (3, 0),
        (2, 0),
        (0, 0),
    )
    _assert_page_shows(page, campaign, wave1)
    assert page.locator("#campaign-progress[data-watching=late-errors]").count() == 1
    screenshot("delivered")

    # Past the late-error window the page keeps polling, slower, for receipts only.
    monkeypatch.setattr(selectors, "LATE_ERROR_WINDOW_SECONDS", 0)
    page.wait_for_selector("#campaign-progress[data-watching=receipts]", timeout=10_000)

    # Wave 2, reads: one of the first group; in the second group a member who was delivered and
    # one whose read arrives without a delivery (read implies delivered); the third stays quiet.
    sim.ack(first.message_id, "read", a[1])
    sim.ack(second.message_id, "read", b[0])
    extra = _members(second.group_jid, 3)[2]
    sim.ack(second.message_id, "read", extra)
    _wait_for_receipt_rows(8)
    wave2 = _db_numbers(campaign)
    assert (wave2[first.group_jid], wave2[second.group_jid], wave2["total"]) == (
        (3, 1),
        (3, 2),
        (6, 3),
    )
    _assert_page_shows(page, campaign, wave2)
    assert page.locator(f'tr[data-group-jid="{first.group_jid}"]', has_text="first read").count()
    screenshot("read")

    assert page.evaluate("() => window.__notReloaded") is True
    # Still watching (for RECEIPT_WATCH_SECONDS after the last send).
    assert page.locator("#campaign-progress[data-watching=receipts][hx-trigger]").count() == 1
    assert campaign.status == "sent"  # receipts never change the status
    assert not console_problems, console_problems
