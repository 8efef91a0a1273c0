"""The start page stays true while open: sends today, campaigns in progress, the numbers that
cannot send and the member cache each poll a small partial that answers 204 with no body while
nothing changed, and the new numbers once something did. Each number's link opens the queue
filtered to exactly the rows it counts. The queue is driven for real (the gateway simulator)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.html import strip_tags

from artists_app.models import Artist
from campaigns_app import queue, services
from campaigns_app.models import NotificationCampaign, ScheduledWhatsAppMessage
from gateway_simulator import generate_groups
from sessions_app import services as session_services
from tests import factories
from tests.campaigns_app.conftest import group_create

HTMX = {"HTTP_HX_REQUEST": "true"}
Q = ScheduledWhatsAppMessage.Status
QUIET_POLL_LIMIT = 5_000  # bytes a quiet poll may cost (issue 14)


@pytest.fixture
def demo_session(organization):
    # Sessions named wa_demo… are connected in the simulator from the start.
    return factories.session_create(
        organization=organization, session_id="wa_demo_home_live", name="Main"
    )


@pytest.fixture
def demo_groups(organization, demo_session):
    return [
        group_create(
            organization=organization,
            session=demo_session,
            group_jid=g["id"],
            group_name=g["subject"],
        )
        for g in generate_groups(demo_session.session_id, 30)
        if not g["isCommunity"]
    ][:4]


def poll_url(html: str, path: str) -> str:
    match = re.search(rf'hx-get="({re.escape(path)}\?v=\w+)"', html)
    assert match, f"no poll of {path}"
    return match.group(1)


def wire_size(response) -> int:
    """Bytes of the answer as sent: status line, headers, body."""
    return (
        len(b"HTTP/1.1 204 No Content\r\n")
        + len(response.serialize_headers())
        + len(response.content)
    )


def metric(html: str, name: str) -> int:
    match = re.search(rf'data-metric="{name}"><span class="metric">(\d+)</span>', html)
    assert match, f"metric {name} missing"
    return int(match.group(1))


def href(html: str, name: str) -> str:
    match = re.search(rf'href="([^"]+)"[^>]*data-metric="{name}"', html)
    assert match, f"link of {name} missing"
    return match.group(1).replace("&amp;", "&")


def queue_rows(client, url: str) -> set[str]:
    """The row ids the queue page lists at this URL."""
    html = client.get(url).text
    return set(re.findall(r'<tr id="row-([0-9a-f-]{36})"', html))


def campaign_create(organization, session, groups, **kwargs) -> NotificationCampaign:
    return services.campaign_create(
        organization=organization,
        session=session,
        name=kwargs.pop("name", "Tour dates"),
        message="New dates!",
        group_ids=[g.id for g in groups],
        **kwargs,
    )


def test_a_quiet_poll_of_sends_and_campaigns_is_empty_and_small(
    logged_in_client, organization, demo_session, demo_groups
):
    campaign_create(organization, demo_session, demo_groups[:2])
    html = logged_in_client.get("/").text
    url = poll_url(html, "/home/activity/")

    quiet = logged_in_client.get(url, **HTMX)

    assert quiet.status_code == 204
    assert quiet.content == b""
    assert wire_size(quiet) < QUIET_POLL_LIMIT, quiet.serialize_headers()


def test_sends_and_campaign_progress_change_without_a_reload_when_rows_are_sent(
    logged_in_client, organization, demo_session, demo_groups, gateway_simulator
):
    gateway_simulator.add_failure(path="^/send$", status=400, times=1)  # one permanent failure
    campaign = campaign_create(organization, demo_session, demo_groups[:3])
    html = logged_in_client.get("/").text
    url = poll_url(html, "/home/activity/")
    assert (metric(html, "sent"), metric(html, "failed"), metric(html, "waiting")) == (0, 0, 3)
    assert "0 sent · 0 failed of 3 groups" in strip_tags(html)

    queue.queue_process_once(limit=1, max_batches=2)  # two of the three groups

    changed = logged_in_client.get(url, **HTMX)
    assert changed.status_code == 200
    part = changed.text
    assert 'id="home-activity"' in part and "<html" not in part
    assert len(changed.content) < QUIET_POLL_LIMIT
    rows = ScheduledWhatsAppMessage.objects.filter(organization=organization)
    assert metric(part, "sent") == rows.filter(status=Q.SENT).count() == 1
    assert metric(part, "failed") == rows.filter(status=Q.FAILED).count() == 1
    assert metric(part, "waiting") == rows.filter(status=Q.PENDING).count() == 1
    assert "1 sent · 1 failed of 3 groups" in strip_tags(part)
    assert f'data-campaign="{campaign.pk}" data-status="sending"' in part
    # The new part carries the new version: polled again, it is quiet.
    url = poll_url(part, "/home/activity/")
    assert logged_in_client.get(url, **HTMX).status_code == 204

    queue.queue_process_once()  # the last group: the campaign is over

    part = logged_in_client.get(url, **HTMX).text
    campaign.refresh_from_db()
    assert campaign.status == NotificationCampaign.Status.PARTIAL_FAILURE
    assert (metric(part, "sent"), metric(part, "failed"), metric(part, "waiting")) == (2, 1, 0)
    assert f'data-campaign="{campaign.pk}"' not in part
    assert "No campaign is scheduled or sending." in part


def test_a_scheduled_campaign_shows_its_progress_live(
    logged_in_client, organization, demo_session, demo_groups
):
    campaign = campaign_create(
        organization,
        demo_session,
        demo_groups[:2],
        scheduled_for=timezone.now() + timedelta(hours=2),
    )
    url = poll_url(logged_in_client.get("/").text, "/home/activity/")
    row = campaign.groups.order_by("group_name").first().scheduled_message

    services.scheduled_message_cancel(message=row)

    part = logged_in_client.get(url, **HTMX).text
    campaign.refresh_from_db()
    assert f'data-campaign="{campaign.pk}"' in part
    assert metric(part, "waiting") == 1
    assert "of 2 groups" in strip_tags(part)


def test_each_number_opens_the_queue_filtered_to_the_rows_it_counts(
    logged_in_client, organization, demo_session, demo_groups, gateway_simulator
):
    now = timezone.now()
    gateway_simulator.add_failure(path="^/send$", status=400, times=1)
    campaign_create(organization, demo_session, demo_groups[:3])
    queue.queue_process_once()
    # Rows of other days, and other states, that today's numbers must not count.
    old = dict(organization=organization, session=demo_session, message="old")
    yesterday_sent = ScheduledWhatsAppMessage.objects.create(
        recipient_jid=demo_groups[3].group_jid,
        status=Q.SENT,
        sent_at=now - timedelta(days=2),
        **old,
    )
    yesterday_failed = ScheduledWhatsAppMessage.objects.create(
        recipient_jid=demo_groups[3].group_jid, status=Q.FAILED, **old
    )
    ScheduledWhatsAppMessage.objects.filter(pk=yesterday_failed.pk).update(
        updated_at=now - timedelta(days=2)
    )
    review = ScheduledWhatsAppMessage.objects.create(
        recipient_jid=demo_groups[3].group_jid, status=Q.NEEDS_REVIEW, **old
    )
    pending = ScheduledWhatsAppMessage.objects.create(
        recipient_jid=demo_groups[3].group_jid,
        status=Q.PENDING,
        scheduled_for=now + timedelta(days=1),
        **old,
    )

    html = logged_in_client.get("/").text

    rows = ScheduledWhatsAppMessage.objects.filter(organization=organization)
    sent_today = {
        str(pk)
        for pk in rows.filter(status=Q.SENT, sent_at__date=now.date()).values_list("pk", flat=True)
    }
    failed_today = {
        str(pk)
        for pk in rows.filter(status=Q.FAILED, updated_at__date=now.date()).values_list(
            "pk", flat=True
        )
    }
    assert len(sent_today) == metric(html, "sent") == 2
    assert len(failed_today) == metric(html, "failed") == 1
    assert queue_rows(logged_in_client, href(html, "sent")) == sent_today
    assert queue_rows(logged_in_client, href(html, "failed")) == failed_today
    assert str(yesterday_sent.pk) not in sent_today | failed_today
    assert queue_rows(logged_in_client, href(html, "needs_review")) == {str(review.pk)}
    assert metric(html, "needs_review") == 1
    assert queue_rows(logged_in_client, href(html, "waiting")) == {str(pending.pk)}
    assert metric(html, "waiting") == 1
    # The filtered queue says which day it shows, and its status counts are that day's.
    page = logged_in_client.get(href(html, "sent")).text
    assert "data-day-filter" in page
    assert re.search(r"Sent <span class=\"muted\">2</span>", page)
    everything = logged_in_client.get("/queue/?status=sent").text
    assert re.search(r"Sent <span class=\"muted\">3</span>", everything)


@pytest.mark.parametrize("day", ["yesterday", "2026-13-40", "9999-12-31", "0001-01-01", "\x00"])
def test_a_bad_day_in_the_queue_url_is_ignored(logged_in_client, organization, demo_session, day):
    ScheduledWhatsAppMessage.objects.create(
        organization=organization,
        session=demo_session,
        recipient_jid="120363000000000001@g.us",
        message="hi",
        status=Q.SENT,
        sent_at=timezone.now() - timedelta(days=5),
    )

    response = logged_in_client.get("/queue/", {"status": "sent", "day": day})

    assert response.status_code == 200
    assert "data-day-filter" not in response.text
    assert len(re.findall(r'<tr id="row-', response.text)) == 1


def test_the_numbers_that_cannot_send_change_without_a_reload(
    logged_in_client, organization, demo_session
):
    backup = factories.session_create(
        organization=organization, name="Backup", phone_number="4915100000077"
    )
    html = logged_in_client.get("/").text
    assert 'data-metric="down"' not in html
    url = poll_url(html, "/home/sessions/")
    assert logged_in_client.get(url, **HTMX).status_code == 204

    session_services.session_mark_disconnected(session=backup, error="Phone went offline")

    part = logged_in_client.get(url, **HTMX).text
    assert re.search(r'data-metric="down">1 cannot send</a>', part)
    assert len(part.encode()) < QUIET_POLL_LIMIT


def test_the_member_cache_part_is_quiet_until_a_sync_fails(logged_in_client, organization):
    artist = Artist.objects.create(
        organization=organization, name="Aurora Bay", whatsapp_group_id="120363000000000104"
    )
    html = logged_in_client.get("/").text
    url = poll_url(html, "/home/cache/")
    quiet = logged_in_client.get(url, **HTMX)
    assert quiet.status_code == 204 and wire_size(quiet) < QUIET_POLL_LIMIT
    assert 'data-metric="failed-syncs"' not in html

    Artist.objects.filter(pk=artist.pk).update(member_sync_status=Artist.SyncStatus.FAILED)

    part = logged_in_client.get(url, **HTMX).text
    assert 'data-metric="failed-syncs">1 failed</a>' in part


def test_another_organizations_sends_leave_our_poll_quiet(
    logged_in_client, organization, demo_session, demo_groups, other_organization
):
    campaign_create(organization, demo_session, demo_groups[:1])
    url = poll_url(logged_in_client.get("/").text, "/home/activity/")
    theirs = factories.session_create(organization=other_organization)
    ScheduledWhatsAppMessage.objects.create(
        organization=other_organization,
        session=theirs,
        recipient_jid="120363000000000001@g.us",
        message="not ours",
        status=Q.SENT,
        sent_at=timezone.now(),
    )

    assert logged_in_client.get(url, **HTMX).status_code == 204


def test_the_polls_need_a_login(client, db):
    for path in ("/home/activity/", "/home/cache/", "/home/sessions/"):
        response = client.get(path, **HTMX)
        assert response.status_code in (302, 401, 403), path


@pytest.mark.parametrize(
    "path", ["/home/activity/", "/home/cache/", "/home/sessions/", "/queue/poll/"]
)
@pytest.mark.parametrize(
    "query",
    ["v=", "v=" + "x" * 10_000, "v=a%00b", "v=%ED%A0%80", "v=%FF%FE", "v=[[[[]]]]", "v=1&v=2"],
)
def test_a_poll_with_any_version_answers_the_part_never_an_error(
    logged_in_client, organization, path, query
):
    response = logged_in_client.get(f"{path}?{query}", **HTMX)
    assert response.status_code in (200, 204)  # a stale or strange version: the part is sent
