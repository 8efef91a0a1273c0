"""Browser (issue 14): the searchable group picker with its estimate, the message preview, a
time in the past refused until confirmed (campaign and queue forms), a duplicate artist refused
with a link to the existing one, archive, and no console errors on the campaigns, queue and
artists pages. Screenshots in var/screenshots/."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from artists_app.models import Artist, ArtistWhatsAppGroupMember
from campaigns_app import services
from campaigns_app.models import NotificationCampaign, ScheduledWhatsAppMessage
from groups_app.models import WhatsAppGroup
from tests import factories
from whatsapp_crm.models import OrganizationMember

pytestmark = pytest.mark.browser

NAMES = [
    "Berlin Crew",
    "Berlin Street Team",
    "Hamburg Fans",
    "Munich Fans",
    "Cologne Night",
    "Vienna Lights",
    "Zurich Friends",
    "Paris Backstage",
    "Lyon Front Row",
    "Madrid Tour 2026",
    "Lisbon Crew",
    "Prague Club",
]


@pytest.fixture
def setup(settings, browser_user):
    settings.QUEUE_SESSION_RATE_PER_MINUTE = 20
    organization = OrganizationMember.objects.get(user=browser_user).organization
    session = factories.session_create(organization=organization, name="Label phone")
    down = factories.session_create(  # dropped, still holding its number: needs a reconnect
        organization=organization,
        name="Old phone",
        status="disconnected",
        phone_number="4915112345678",
    )
    groups = [
        WhatsAppGroup.objects.create(
            organization=organization,
            session=session,
            group_jid=f"1203630000000001{n:02d}@g.us",
            group_name=name,
            participant_count=10 + n,
        )
        for n, name in enumerate(NAMES)
    ]
    return organization, session, down, groups


REFUSED = "the server responded with a status of 400"


def _errors(page, *, refusals_expected: bool = False) -> list[str]:
    """Console errors and uncaught exceptions. Where the test submits refused input, the 400
    answer the form is designed to get ("Failed to load resource: … 400") is not a problem."""
    problems: list[str] = []

    def console(message) -> None:
        if message.type != "error":
            return
        if refusals_expected and REFUSED in message.text:
            return
        problems.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


def _past(page, hours: int = 2) -> str:
    """A time `hours` before the server's "now" in the organization's zone, as typed."""
    now_local = page.get_attribute("input[data-past-check]", "data-now-local")
    return (datetime.fromisoformat(now_local) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M")


def test_the_group_picker_filters_as_you_type_and_estimates_the_send(
    setup, logged_in_page, live_server, screenshot
):
    page = logged_in_page
    problems = _errors(page)
    page.goto(f"{live_server.url}/campaigns/new/")
    items = page.locator("#group-picker [data-picker-item]")
    assert items.count() == 12
    assert page.inner_text("[data-picker-summary]") == "No group selected yet."

    page.fill("[data-picker-search]", "berlin")
    page.wait_for_function(
        "() => document.querySelectorAll('#group-picker [data-picker-item]:not([hidden])').length === 2"
    )
    assert page.inner_text("[data-picker-shown]") == "2 of 12 groups shown"
    assert (
        page.locator("#group-picker [data-picker-item]:visible")
        .all_inner_texts()[0]
        .startswith("Berlin Crew")
    )
    page.click("text=Select shown")
    assert page.locator("input[name=group_ids]:checked").count() == 2
    assert page.inner_text("[data-picker-summary]") == "Selected: 2 groups at 20/min ≈ 6 s"

    page.fill("[data-picker-search]", "fans munich")  # every word, any order
    page.wait_for_function(
        "() => document.querySelectorAll('#group-picker [data-picker-item]:not([hidden])').length === 1"
    )
    page.locator("#group-picker [data-picker-item]:visible input").check()
    assert page.inner_text("[data-picker-summary]") == "Selected: 3 groups at 20/min ≈ 9 s"
    page.fill("[data-picker-search]", "nothing like this")
    page.wait_for_selector("[data-picker-none]:not([hidden])")
    page.fill("[data-picker-search]", "")
    assert page.locator("#group-picker [data-picker-item]:visible").count() == 12
    assert page.locator("input[name=group_ids]:checked").count() == 3  # kept while searching

    # Character count and a preview as WhatsApp formats it (built as text, never as HTML).
    page.fill("textarea[name=message]", "*Tour* dates are _out_ <b>now</b>")
    assert page.inner_text("#message-count") == "33 / 4096 characters"
    assert page.inner_text("#message-preview strong") == "Tour"
    assert page.inner_text("#message-preview em") == "out"
    assert page.locator("#message-preview b").count() == 0
    screenshot("picker")

    # A disconnected session is marked in the select, and picking it warns.
    option = page.locator("#session-select option", has_text="Old phone").inner_text()
    assert "Disconnected: messages wait" in option
    page.select_option("#session-select", label=option.strip())
    page.wait_for_selector("[data-session-warning]")
    assert "Old phone is disconnected." in page.inner_text("[data-session-warning]")
    screenshot("disconnected")
    assert problems == []


def test_a_past_time_is_refused_until_confirmed(setup, logged_in_page, live_server, screenshot):
    organization, session, _, groups = setup
    page = logged_in_page
    problems = _errors(page, refusals_expected=True)
    page.goto(f"{live_server.url}/campaigns/new/")
    page.fill("textarea[name=message]", "Doors open at 8")
    page.locator("input[name=group_ids]").nth(0).check()
    page.locator("input[name=group_ids]").nth(1).check()
    page.check("input[name=when][value=later]")
    page.fill("input[name=scheduled_for]", _past(page))
    page.wait_for_selector("[data-past-hint]:not([hidden])")  # said before sending
    page.click("button:has-text('Create campaign')")

    page.wait_for_selector("#campaign-form .alert-error")
    assert "has already passed" in page.inner_text("#campaign-form .alert-error")
    assert not NotificationCampaign.objects.exists()
    assert page.locator("input[name=group_ids]:checked").count() == 2  # as picked
    screenshot("refused")

    page.check("input[name=send_now_instead]")
    page.click("button:has-text('Create campaign')")
    page.wait_for_url("**/campaigns/*/")
    campaign = NotificationCampaign.objects.get()
    assert campaign.total_groups == 2
    assert campaign.status == "sending"  # now, not at the past time
    screenshot("sent-now")

    # The queue page's form: a group picked by name fills the JID; a past time asks too.
    page.goto(f"{live_server.url}/queue/")
    page.click("text=Schedule a message")
    page.fill("#queue-form [data-picker-search]", "hamburg")
    page.locator("#queue-form [data-picker-item]:visible input").check()
    assert page.input_value("#recipient-jid") == groups[2].group_jid
    page.fill("#queue-form textarea[name=message]", "Hi Hamburg")
    page.check("#queue-form input[name=when][value=later]")
    page.fill("#queue-form input[name=scheduled_for]", _past(page, hours=30))
    page.click("button:has-text('Queue message')")
    page.wait_for_selector("#queue-form .alert-error")
    assert "has already passed" in page.inner_text("#queue-form .alert-error")
    assert not ScheduledWhatsAppMessage.objects.filter(recipient_jid=groups[2].group_jid).exists()
    screenshot("queue-refused")
    page.check("input[name=send_now_instead]")
    page.click("button:has-text('Queue message')")
    page.wait_for_url("**/queue/")
    page.wait_for_selector("#queue-table [data-recipient-name]:has-text('Hamburg Fans')")
    row = ScheduledWhatsAppMessage.objects.get(recipient_jid=groups[2].group_jid)
    assert row.message == "Hi Hamburg"
    screenshot("queued")
    assert problems == []


def test_a_duplicate_artist_is_refused_with_a_link_to_the_existing_one(
    setup, logged_in_page, live_server, screenshot
):
    organization, *_ = setup
    mira = Artist.objects.create(
        organization=organization, name="Mira Sol", whatsapp_group_id="120363000000000101"
    )
    ArtistWhatsAppGroupMember.objects.create(
        artist=mira,
        whatsapp_group_id=mira.whatsapp_group_id,
        whatsapp_group_name="Mira Sol – Fans",
        member_phone="4915123456789",
        member_wa_id="4915123456789",
        member_rank="creator",
        last_synced_at=datetime.now().astimezone(),
    )
    page = logged_in_page
    problems = _errors(page, refusals_expected=True)
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{live_server.url}/artists/")
    # The add form is at the top, above the lookup.
    form_y = page.locator("#artist-form").bounding_box()["y"]
    assert form_y < page.locator("#lookup-phone").bounding_box()["y"]

    page.fill("#artist-form input[name=name]", "Mira again")
    page.fill("#artist-form input[name=whatsapp_group_id]", "120363000000000101@g.us")
    page.click("#artist-form button[type=submit]")
    page.wait_for_selector("#artist-form [data-existing-artist]")
    assert "already belongs to Mira Sol" in page.inner_text("#artist-form")
    assert Artist.objects.count() == 1
    screenshot("refused")

    page.click("#artist-form [data-existing-artist]")
    page.wait_for_selector("#artist-panel h2:has-text('Mira Sol')")
    assert "+49 1512 3456789" in page.inner_text("#artist-panel")
    screenshot("panel")

    # Archive (confirmed): the row leaves the list; "Show archived" lists it.
    page.click("#artist-panel button:has-text('Archive')")
    page.wait_for_selector("#artists-table tr[data-artist='Mira Sol']", state="detached")
    assert page.locator("#artist-panel h2").count() == 0
    mira.refresh_from_db()
    assert mira.archived_at is not None
    page.click("[data-show-archived]")
    page.wait_for_selector("#artists-table tr[data-artist='Mira Sol']")
    screenshot("archived")
    assert problems == []


def test_no_console_errors_on_the_campaigns_queue_and_artists_pages(
    setup, logged_in_page, live_server, screenshot
):
    organization, session, _, groups = setup
    campaign = services.campaign_create(
        organization=organization,
        session=session,
        name="Tour news",
        message="New dates!",
        group_ids=[g.id for g in groups[:3]],
    )
    ScheduledWhatsAppMessage.objects.filter(campaign_group__campaign=campaign).update(
        status="failed", error_message="WhatsApp error 420: " + "not allowed to send here. " * 12
    )
    Artist.objects.create(
        organization=organization, name="Nina", whatsapp_group_id="120363000000000201"
    )
    page = logged_in_page
    problems = _errors(page)
    for path, name in [
        ("/campaigns/", "campaigns"),
        ("/campaigns/new/", "new"),
        (f"/campaigns/{campaign.pk}/", "detail"),
        (f"/campaigns/new/?from={campaign.pk}", "duplicate"),
        ("/queue/", "queue"),
        ("/queue/?q=tour&per_page=50", "queue-search"),
        ("/artists/", "artists"),
    ]:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        page.wait_for_load_state("networkidle")
        screenshot(name)
    # The queue's long errors fold; one opens.
    page.goto(f"{live_server.url}/queue/")
    page.locator("[data-error-long] summary").first.click()
    screenshot("queue-error-open")
    page.goto(f"{live_server.url}/artists/")
    page.click("[data-open-artist]")
    page.wait_for_selector("#artist-panel h2")
    page.wait_for_timeout(300)
    assert problems == []
