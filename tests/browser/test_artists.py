"""The Artists page in a real browser: live sync progress and a phone lookup."""

from __future__ import annotations

import threading

import phonenumbers
import pytest
from django.db import connection

from artists_app import tasks
from artists_app.models import Artist, ArtistWhatsAppGroupMember
from whatsapp_crm.models import OrganizationMember, TaskRun

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _run_worker(task_run_id: str, errors: list[BaseException]) -> None:
    """What the Celery worker does, in a thread (tests have no worker)."""
    try:
        tasks.group_members_sync(task_run_id)
    except BaseException as exc:
        errors.append(exc)
    finally:
        connection.close()


def test_it_shows_live_sync_progress_and_finds_an_artist_by_phone(
    logged_in_page, live_server, live_gateway_simulator, settings, screenshot
):
    page = logged_in_page
    organization = OrganizationMember.objects.get(user__username="browser").organization
    for n, name in enumerate(["Mira Sol", "Lena Marlen", "Kaskade Brothers", "Jonas Feld"]):
        Artist.objects.create(
            organization=organization, name=name, whatsapp_group_id=f"12036300000000010{n}"
        )
    # One group at a time, 600 ms each: the sync takes a few seconds, so progress is visible.
    settings.WHAPI_CONCURRENCY = 1
    live_gateway_simulator.configure_whapi(latency_ms=600)

    page.goto(f"{live_server.url}/artists/")
    page.wait_for_selector("text=Find artists by phone number")
    page.click("text=Sync all members")
    page.wait_for_selector('#sync-progress [data-state="PENDING"]')
    run = TaskRun.objects.get(organization=organization, state="PENDING")

    errors: list[BaseException] = []
    worker = threading.Thread(target=_run_worker, args=(str(run.pk), errors))
    worker.start()
    try:
        # The page polls the run: it shows a partly filled bar while the worker is busy…
        page.wait_for_function(
            """() => {
                const bar = document.querySelector('#sync-progress [role=progressbar]');
                const now = bar && Number(bar.getAttribute('aria-valuenow'));
                return now >= 1 && now < 4;
            }"""
        )
        width = page.eval_on_selector("#sync-progress .progress > div", "el => el.style.width")
        assert width in {"25%", "50%", "75%"}
        screenshot("progress")
        # …and stops polling with the result once it is finished.
        page.wait_for_selector('#sync-progress [data-state="SUCCESS"]', timeout=20_000)
    finally:
        worker.join(30)
    assert not errors
    assert page.inner_text("#sync-progress .sync-count") == "4 of 4 artists done"
    page.wait_for_selector("#artists-table .badge-green")
    assert page.locator("#artists-table .badge-green").count() == 4
    assert page.locator('#cache-health [data-metric="total_members"] .metric').inner_text() == "160"
    screenshot("finished")

    # A lookup by the German national spelling of a member finds the artist instantly.
    member = (
        ArtistWhatsAppGroupMember.objects.filter(
            artist__name="Lena Marlen", member_phone__startswith="49", member_rank="admin"
        )
        .order_by("member_phone")
        .first()
    )
    national = phonenumbers.format_number(
        phonenumbers.parse("+" + member.member_phone), phonenumbers.PhoneNumberFormat.NATIONAL
    )
    page.fill("#lookup-phone", national)
    page.wait_for_selector("#lookup-results table.lookup-results")
    results = page.inner_text("#lookup-results")
    assert "Lena Marlen" in results
    assert "admin" in results
    screenshot("lookup")

    # The cached members of an artist, privacy ids included, open in their own panel.
    row = page.locator('#artists-table tr[data-artist="Lena Marlen"]')
    row.locator("[data-open-artist]").click()
    panel = page.locator("#artist-panel")
    panel.locator("table.members").wait_for()
    assert "Lena Marlen" in panel.locator("h2").inner_text()
    assert panel.locator("table.members tbody tr").count() == 40
    assert panel.locator("table.members .badge", has_text="privacy id").count() == 2
    assert row.locator("table.members").count() == 0
    screenshot("members-panel")

    page.fill("#lookup-phone", "not a number")
    page.wait_for_selector("#lookup-results .alert-error")
    assert "is not a phone number" in page.inner_text("#lookup-results")
