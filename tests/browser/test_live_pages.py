"""Pages stay true while open, in a real browser against the real simulator: a session card turns
Disconnected by itself after the gateway's webhook, a quiet poll is small, the start page's numbers
are the database's, and the sessions and start pages run without console errors."""

from __future__ import annotations

import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Q
from django.utils import timezone

from campaigns_app.models import NotificationCampaign, ScheduledWhatsAppMessage
from groups_app.services import group_sync
from sessions_app.models import WhatsAppSession
from tests import factories
from tests.helpers import organization_of

pytestmark = pytest.mark.browser

Status = WhatsAppSession.Status
QueueStatus = ScheduledWhatsAppMessage.Status


def test_a_card_turns_disconnected_within_10_s_of_the_status_webhook_without_reload(
    logged_in_page, live_server, live_gateway_simulator, screenshot, console_problems
):
    page = logged_in_page
    problems = console_problems
    session = factories.session_create(
        organization=organization_of("browser"), session_id="wa_demo_live", name="Live phone"
    )
    page.goto(f"{live_server.url}/settings/whatsapp/")
    card = page.locator(f"#session-{session.id}")
    card.locator('[data-status="connected"]').wait_for()
    page.locator(f"#groups-{session.id} [data-action=sync-groups]").wait_for()
    page.evaluate("() => { window.__notReloaded = true; }")
    assert page.locator("[data-sessions-down]").count() == 0
    screenshot("before")

    # The phone drops: the gateway posts its status webhook; nobody touches the page.
    started = time.monotonic()
    live_gateway_simulator.disconnect("wa_demo_live", error="Phone went offline")
    card.locator('[data-status="disconnected"]').wait_for(timeout=10_000)
    elapsed = time.monotonic() - started

    assert elapsed < 10, elapsed
    assert card.locator(".session-status .badge").inner_text() == "Disconnected — Reconnect needed"
    assert "Phone went offline" in card.locator(".session-error").inner_text()
    assert page.evaluate("() => window.__notReloaded") is True
    page.locator(
        ".toast-error", has_text="Live phone is disconnected: Phone went offline."
    ).wait_for()
    # The banner of every page, the history and the Sync button follow without a reload.
    page.locator("[data-sessions-down]", has_text="Live phone").wait_for(timeout=10_000)
    page.locator(f"#history-{session.id} .badge", has_text="Disconnected").wait_for()
    assert not page.locator(f"#groups-{session.id} [data-action=sync-groups]").is_visible()
    session.refresh_from_db()
    assert session.status == Status.DISCONNECTED
    screenshot("after-webhook")

    # Polls of a quiet page change nothing and toast nothing more.
    page.wait_for_timeout(6_000)
    assert page.locator(".toast").count() <= 3
    assert page.locator(".toast", has_text="is disconnected").count() == 1
    assert not problems, problems


def test_a_quiet_poll_costs_well_under_5_kb(
    logged_in_page, live_server, live_gateway_simulator, screenshot
):
    page = logged_in_page
    session = factories.session_create(
        organization=organization_of("browser"), session_id="wa_demo_quiet", name="Quiet phone"
    )
    page.goto(f"{live_server.url}/settings/whatsapp/")
    page.locator(f"#session-{session.id} [data-status=connected]").wait_for()

    with page.expect_response(lambda r: "/card/" in r.url, timeout=10_000) as polled:
        pass
    response = polled.value
    sizes = response.request.sizes()
    total = sum(sizes.values())

    assert response.status == 204
    assert sizes["responseBodySize"] == 0
    assert total < 5_000, sizes
    # The banner's and the start page's polls are as quiet.
    page.goto(f"{live_server.url}/")
    with page.expect_response(lambda r: "/home/sessions/" in r.url, timeout=10_000) as home:
        pass
    assert home.value.status == 204
    assert sum(home.value.request.sizes().values()) < 5_000
    with page.expect_response(lambda r: "/down-banner/" in r.url, timeout=15_000) as banner:
        pass
    assert banner.value.status == 204
    assert sum(banner.value.request.sizes().values()) < 5_000


def test_the_start_page_numbers_are_the_databases(
    logged_in_page, live_server, gateway_simulator, screenshot, console_problems
):
    page = logged_in_page
    problems = console_problems
    organization = organization_of("browser")
    main = factories.session_create(
        organization=organization, session_id="wa_demo_home", name="Main", phone_number="491511"
    )
    down = factories.session_create(
        organization=organization,
        name="Backup",
        status=Status.DISCONNECTED,
        phone_number="4915100000077",
        last_error="Phone went offline",
    )
    now = timezone.now()

    def row(status, **extra):
        return ScheduledWhatsAppMessage.objects.create(
            organization=organization,
            session=main,
            recipient_jid="120363000000000001@g.us",
            message="hi",
            status=status,
            **extra,
        )

    for _ in range(4):
        row(QueueStatus.SENT, sent_at=now)
    row(QueueStatus.SENT, sent_at=now - timedelta(days=3))
    row(QueueStatus.FAILED)
    row(QueueStatus.FAILED)
    row(QueueStatus.NEEDS_REVIEW)
    row(QueueStatus.PENDING, scheduled_for=now + timedelta(hours=1))
    NotificationCampaign.objects.create(
        organization=organization,
        session=main,
        name="Tour dates",
        message="m",
        status=NotificationCampaign.Status.SENDING,
        total_groups=6,
        sent_count=3,
        failed_count=1,
    )
    other = factories.organization_create(name="Elsewhere")
    other_session = factories.session_create(organization=other, status=Status.DISCONNECTED)
    ScheduledWhatsAppMessage.objects.create(
        organization=other,
        session=other_session,
        recipient_jid="120363000000000001@g.us",
        message="not ours",
        status=QueueStatus.NEEDS_REVIEW,
    )

    page.goto(f"{live_server.url}/")
    page.wait_for_load_state("networkidle")
    screenshot("home")

    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    ours = ScheduledWhatsAppMessage.objects.filter(organization=organization)
    expected = {
        "sent": ours.filter(status=QueueStatus.SENT, sent_at__gte=midnight).count(),
        "failed": ours.filter(status=QueueStatus.FAILED, updated_at__gte=midnight).count(),
        "needs_review": ours.filter(status=QueueStatus.NEEDS_REVIEW).count(),
        "waiting": ours.filter(
            Q(status=QueueStatus.PENDING) | Q(status=QueueStatus.SENDING)
        ).count(),
    }
    shown = {
        name: int(page.locator(f'[data-metric="{name}"] .metric').inner_text()) for name in expected
    }
    assert shown == expected == {"sent": 4, "failed": 2, "needs_review": 1, "waiting": 1}
    assert page.locator('[data-metric="down"]').inner_text() == "1 cannot send"
    sessions = page.locator("#home-sessions li")
    assert sessions.count() == WhatsAppSession.objects.filter(organization=organization).count()
    assert (
        page.locator(f'#home-sessions li[data-session="{down.session_id}"]').get_attribute(
            "data-status"
        )
        == "disconnected"
    )
    assert "Phone went offline" in page.locator("#home-sessions").inner_text()
    assert (
        "3 sent · 1 failed of 6 groups"
        in page.locator("#home-campaigns-title + table").inner_text()
    )
    assert page.locator("[data-sessions-down]", has_text="Backup").is_visible()

    # Each number links to where it is fixed: the queue, filtered.
    page.click('[data-metric="needs_review"]')
    page.wait_for_url("**/queue/?status=needs_review")
    assert not problems, problems


def test_the_sessions_page_runs_without_console_errors_and_clears_the_name(
    logged_in_page, live_server, live_gateway_simulator, screenshot, console_problems
):
    page = logged_in_page
    problems = console_problems
    live_gateway_simulator.connect_after = 2.0
    existing = factories.session_create(
        organization=organization_of("browser"), session_id="wa_demo_existing", name="Existing"
    )
    page.goto(f"{live_server.url}/settings/whatsapp/")
    page.locator(f"#session-{existing.id} [data-status=connected]").wait_for()

    # Sessions exist: connecting another must not log htmx:oobErrorNoTarget (#sessions-empty).
    page.get_by_placeholder("Name (optional)").fill("Tour phone")
    page.get_by_role("button", name="Connect new number").click()
    new_block = page.locator(".session-block").first
    new_block.locator(".qr svg").wait_for()
    assert page.get_by_placeholder("Name (optional)").input_value() == ""
    new_block.locator('[data-status="connected"]').wait_for(timeout=15_000)
    screenshot("connected")

    # Log the existing one out: the reason stays ours although the gateway's webhook follows.
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"#session-{existing.id}").get_by_role("button", name="Log out").click()
    page.locator(f"#session-block-{existing.id} .alert-info").wait_for()
    page.wait_for_timeout(1_500)  # time for the simulator's webhook to arrive and be applied
    existing.refresh_from_db()
    assert existing.last_error == "Logged out from the CRM"
    history = page.locator(f"#history-{existing.id}")
    history.get_by_text("Logged out from the CRM").wait_for()
    assert "Disconnected at gateway" not in history.inner_text()

    for path in ("/settings/whatsapp/", "/"):
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
    assert page.request.get(f"{live_server.url}/favicon.ico").status == 200
    assert not problems, problems


def test_the_sessions_page_with_the_demo_data_is_short(
    page, live_server, gateway_simulator, transactional_db, screenshot
):
    call_command("seed_demo", stdout=StringIO())
    main = WhatsAppSession.objects.get(session_id="wa_demo_main")
    # 30 demo groups less the 2 community parents, and the 5 demo artists' fan groups
    assert group_sync(session=main).saved_count == 33

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", "demo-password")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/settings/whatsapp/")
    page.locator(f"#session-{main.id} [data-status=connected]").wait_for()
    page.locator(f"#groups-{main.id} .groups-toggle").wait_for()
    page.wait_for_load_state("networkidle")
    height = page.evaluate("() => document.documentElement.scrollHeight")
    screenshot("collapsed")

    assert height < 1_200, height  # was ~2,700 px with every group listed inline
    toggle = page.locator(f"#groups-{main.id} .groups-toggle")
    assert toggle.inner_text().split() == ["Groups", "33"]
    assert page.locator(f"#groups-{main.id} tr[data-group-jid]").first.is_hidden()

    toggle.click()
    page.locator(f"#groups-{main.id} tr[data-group-jid]").first.wait_for()
    page.locator(f"#groups-filter-{main.id}").fill("fan club")
    page.wait_for_function(
        f"() => document.querySelectorAll('#groups-{main.id} tr[data-group-jid]').length < 33"
    )
    screenshot("opened-filtered")


def test_toasts_are_capped_deduplicated_closable_and_leave_by_themselves(
    logged_in_page, live_server, screenshot
):
    page = logged_in_page
    page.goto(f"{live_server.url}/")
    page.evaluate(
        """() => {
            for (let i = 1; i <= 5; i++) window.showToast('Change ' + i, 'info');
            window.showToast('Change 5', 'info');
        }"""
    )

    toasts = page.locator("#toasts .toast")
    assert toasts.count() == 3  # capped: the newest three
    assert toasts.all_inner_texts() == ["Change 3", "Change 4", "Change 5"]
    screenshot("capped")

    toasts.nth(0).get_by_role("button", name="Close").click()
    assert toasts.all_inner_texts() == ["Change 4", "Change 5"]
    # Info toasts leave by themselves after 6 s.
    page.wait_for_function(
        "() => document.querySelectorAll('#toasts .toast').length === 0", timeout=9_000
    )
