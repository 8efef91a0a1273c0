"""The start page: per-session health, sends today, campaigns in progress, member cache; every
number links to where it is fixed; only the organization's own data."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns_app.models import NotificationCampaign, QueueSessionState, ScheduledWhatsAppMessage
from sessions_app import services
from tests import factories

Q = ScheduledWhatsAppMessage.Status


def _row(organization, session, status, **extra):
    return ScheduledWhatsAppMessage.objects.create(
        organization=organization,
        session=session,
        recipient_jid="120363000000000001@g.us",
        message="hi",
        status=status,
        **extra,
    )


@pytest.fixture
def activity(organization, gateway_session):
    now = timezone.now()
    for _ in range(3):
        _row(organization, gateway_session, Q.SENT, sent_at=now)
    _row(organization, gateway_session, Q.SENT, sent_at=now - timedelta(days=2))  # not today
    _row(organization, gateway_session, Q.FAILED, updated_at=now)
    _row(organization, gateway_session, Q.NEEDS_REVIEW)
    _row(organization, gateway_session, Q.NEEDS_REVIEW)
    _row(organization, gateway_session, Q.PENDING)
    NotificationCampaign.objects.create(
        organization=organization,
        session=gateway_session,
        name="Tour dates",
        message="m",
        status=NotificationCampaign.Status.SENDING,
        total_groups=5,
        sent_count=2,
    )
    down = factories.session_create(
        organization=organization,
        name="Old phone",
        status="disconnected",
        phone_number="4915100000077",
        last_error="Phone went offline",
    )
    return down


def _metric(html: str, name: str) -> str:
    marker = f'data-metric="{name}"><span class="metric">'
    start = html.index(marker) + len(marker)
    return html[start : html.index("<", start)]


def test_it_counts_todays_sends_from_the_database(logged_in_client, activity):
    html = logged_in_client.get("/").content.decode()

    assert _metric(html, "sent") == "3"
    assert _metric(html, "failed") == "1"
    assert _metric(html, "needs_review") == "2"
    assert _metric(html, "waiting") == "1"
    assert 'href="/queue/?status=needs_review"' in html
    today = f"{timezone.localdate():%Y-%m-%d}"
    assert f'href="/queue/?status=failed&amp;day={today}"' in html


def test_it_lists_sessions_with_their_health_and_campaigns_in_progress(logged_in_client, activity):
    html = logged_in_client.get("/").content.decode()

    assert "Old phone" in html
    assert "Disconnected — Reconnect needed" in html
    assert "Phone went offline" in html
    assert "Tour dates" in html
    assert "2 sent · 0 failed of 5 groups" in html


def test_it_shows_nothing_of_another_organization(client, other_user, activity):
    client.force_login(other_user)

    html = client.get("/").content.decode()

    assert "Old phone" not in html
    assert "Tour dates" not in html
    assert _metric(html, "sent") == "0"


def test_the_polled_sessions_part_is_small(logged_in_client, activity):
    response = logged_in_client.get("/home/sessions/")

    assert response.status_code == 200
    assert "Old phone" in response.content.decode()
    assert len(response.content) < 5_000


def test_anonymous_users_go_to_the_login(client, db):
    response = client.get("/")

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_quiet_poll_of_the_sessions_part_is_empty(logged_in_client, activity):
    html = logged_in_client.get("/").content.decode()
    url = re.search(r'hx-get="(/home/sessions/\?v=\w+)"', html).group(1)

    quiet = logged_in_client.get(url, HTTP_HX_REQUEST="true")
    services.session_mark_connected(session=activity, phone_number=activity.phone_number)
    changed = logged_in_client.get(url, HTTP_HX_REQUEST="true")

    assert quiet.status_code == 204 and quiet.content == b""
    assert changed.status_code == 200
    assert 'data-status="connected"' in changed.content.decode()


def test_the_numbers_that_cannot_send_link_to_the_sessions_page(logged_in_client, activity):
    html = logged_in_client.get("/").content.decode()

    assert (
        '<a class="badge badge-red" href="/settings/whatsapp/" data-metric="down">1 cannot send</a>'
        in html
    )


def test_a_session_whose_gateway_is_down_shows_the_outage_not_connected(
    logged_in_client, gateway_session, activity
):
    since = timezone.now() - timedelta(minutes=4)
    QueueSessionState.objects.create(
        session=gateway_session, unreachable_since=since, consecutive_failures=2
    )
    page = logged_in_client.get("/").text
    line = f"Gateway unreachable since {timezone.localtime(since):%H:%M} — 1 message waiting"
    assert line in page
    item = page[page.index(f'data-session="{gateway_session.session_id}"') :]
    assert "Connected</span>" not in item[: item.index("</li>")]

    # The polled part changes with the outage, so an open page picks it up.
    quiet = logged_in_client.get("/home/sessions/", {"v": "stale"}, HTTP_HX_REQUEST="true")
    assert line in quiet.text
