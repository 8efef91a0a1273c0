"""Forms that help (issue 14): the searchable group picker, disconnected sessions marked, the
character count and preview, "Duplicate", the send-time estimate, "1 group", a time in the past
refused until confirmed, times in the current time zone, and the campaign results CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns_app import selectors, services
from campaigns_app.models import NotificationCampaign, ScheduledWhatsAppMessage
from tests import factories
from tests.campaigns_app.conftest import group_create

Msg = ScheduledWhatsAppMessage
pytestmark = pytest.mark.django_db


def _local(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%dT%H:%M")


def _campaign_post(session, groups, **fields):
    data = {
        "session": str(session.id),
        "name": "Tour news",
        "message": "New dates!",
        "group_ids": [str(g.id) for g in groups],
        "when": "now",
    }
    data.update(fields)
    return data


# --- the send-time estimate and "1 group" ------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "rate", "text"),
    [
        (5, 20, "5 groups at 20/min ≈ 15 s"),
        (1, 20, "1 group at 20/min ≈ 3 s"),
        (50, 20, "50 groups at 20/min ≈ 2 min 30 s"),
        (100, 20, "100 groups at 20/min ≈ 5 min"),
        (1250, 20, "1250 groups at 20/min ≈ 1 h 2 min"),
        (3, 0, "3 groups, no rate limit"),
    ],
)
def test_it_estimates_the_send_time_from_the_rate_limit(settings, groups, rate, text):
    settings.QUEUE_SESSION_RATE_PER_MINUTE = rate
    assert selectors.send_time_estimate(groups=groups) == text


def test_the_form_shows_the_estimate_of_the_picked_groups(
    settings, logged_in_client, gateway_session, groups
):
    settings.QUEUE_SESSION_RATE_PER_MINUTE = 20
    page = logged_in_client.get(reverse("campaigns:new"))
    assert 'data-rate="20"' in page.text
    assert "No group selected yet." in page.text
    # Sent back with an error: the picked groups stay picked, with their estimate.
    response = logged_in_client.post(
        reverse("campaigns:new"), _campaign_post(gateway_session, groups, message="")
    )
    assert response.status_code == 400
    assert "Selected: <strong>5 groups at 20/min ≈ 15 s</strong>" in response.text


def test_it_says_1_group_and_1_member(settings, logged_in_client, organization, gateway_session):
    settings.QUEUE_SESSION_RATE_PER_MINUTE = 20
    group = group_create(
        organization=organization, session=gateway_session, group_name="Solo", participant_count=1
    )
    page = logged_in_client.get(reverse("campaigns:new"))
    assert "1 member<" in page.text and "1 members" not in page.text
    assert ">1 group<" in page.text

    response = logged_in_client.post(
        reverse("campaigns:new"), _campaign_post(gateway_session, [group]), follow=True
    )
    assert "created: 1 group at 20/min ≈ 3 s." in response.text
    # (the progress card, _campaign_progress.html, is another part of issue 14)
    assert "1 groups" not in response.text.split('id="campaign-progress"')[0]
    assert "· 1 group</p>" in response.text


# --- the group picker and the session select ---------------------------------------------------


def test_the_group_picker_is_searchable_by_name(logged_in_client, organization, gateway_session):
    group_create(organization=organization, session=gateway_session, group_name="Berlin Crew")
    group_create(organization=organization, session=gateway_session, group_name="Hamburg Fans")
    html = logged_in_client.get(reverse("campaigns:new")).text
    assert "data-picker-search" in html
    assert 'data-search="berlin crew 1203634' in html
    assert "/static/campaigns_app/forms.js" in html
    assert "<script>" not in html  # the CSP forbids inline scripts


def test_disconnected_sessions_are_marked_and_warned_about(
    logged_in_client, organization, gateway_session, groups
):
    # Dropped but still holding its number: it needs a reconnect, its messages wait for it.
    down = factories.session_create(
        organization=organization,
        name="Old phone",
        status="disconnected",
        phone_number="4915112345678",
    )
    # Logged out (no number): it can never send again, so it is not offered.
    factories.session_create(organization=organization, name="Retired phone", status="disconnected")
    page = logged_in_client.get(reverse("campaigns:new")).text
    assert "Old phone" in page
    assert "Retired phone" not in page
    assert "⚠ Disconnected: messages wait" in page
    assert 'data-status="disconnected"' in page
    assert "data-session-warning" not in page  # the connected session is picked first

    picker = logged_in_client.get(
        reverse("campaigns:group-picker"), {"session": str(down.id)}, HTTP_HX_REQUEST="true"
    ).text
    assert "data-session-warning" in picker
    assert "Old phone is disconnected." in picker
    assert "nothing is sent before that" in picker


def test_the_message_has_a_count_and_a_preview(logged_in_client, gateway_session, groups):
    response = logged_in_client.post(
        reverse("campaigns:new"),
        _campaign_post(gateway_session, [], message="*Tour* <b>dates</b>"),
    )
    assert 'data-char-count="#message-count"' in response.text
    assert "19 / 4096 characters" in response.text
    assert 'id="message-preview"' in response.text
    assert "*Tour* &lt;b&gt;dates&lt;/b&gt;" in response.text  # escaped, formatted by forms.js


# --- Duplicate ---------------------------------------------------------------------------------


def test_duplicate_prefills_the_new_campaign_form(
    logged_in_client, organization, gateway_session, groups
):
    campaign = services.campaign_create(
        organization=organization,
        session=gateway_session,
        name="Tour news",
        message="New dates!\nSee you",
        group_ids=[g.id for g in groups[:3]],
    )
    groups[2].is_active = False  # left since: no longer offered
    groups[2].save()
    detail = logged_in_client.get(reverse("campaigns:detail", args=[campaign.id])).text
    assert f'href="/campaigns/new/?from={campaign.id}"' in detail
    assert f'href="/campaigns/{campaign.id}/results.csv"' in detail

    page = logged_in_client.get(reverse("campaigns:new"), {"from": str(campaign.id)})
    assert page.status_code == 200
    html = page.text
    assert 'value="Tour news"' in html
    assert "New dates!\nSee you</textarea>" in html
    for group in groups[:2]:
        assert f'value="{group.id}" checked' in html
    for group in groups[3:]:
        assert f'value="{group.id}" checked' not in html
    assert "1 of its group can no longer receive messages and was left out." in html
    assert NotificationCampaign.objects.count() == 1  # nothing created by looking


def test_duplicate_of_an_unknown_campaign_is_404(
    client, logged_in_client, other_user, organization, gateway_session, groups
):
    campaign = services.campaign_create(
        organization=organization,
        session=gateway_session,
        name="x",
        message="y",
        group_ids=[groups[0].id],
    )
    assert logged_in_client.get(reverse("campaigns:new"), {"from": "nope"}).status_code == 404
    client.force_login(other_user)
    assert client.get(reverse("campaigns:new"), {"from": str(campaign.id)}).status_code == 404


# --- a time in the past ------------------------------------------------------------------------


def test_a_past_time_is_refused_until_confirmed(logged_in_client, gateway_session, groups):
    past = _local(timezone.now() - timedelta(hours=2))
    data = _campaign_post(gateway_session, groups[:2], when="later", scheduled_for=past)

    refused = logged_in_client.post(reverse("campaigns:new"), data)
    assert refused.status_code == 400
    assert "has already passed" in refused.text
    assert 'name="send_now_instead"' in refused.text
    assert f'value="{past}"' in refused.text  # as typed
    assert not NotificationCampaign.objects.exists()
    assert not Msg.objects.exists()

    confirmed = logged_in_client.post(reverse("campaigns:new"), {**data, "send_now_instead": "1"})
    assert confirmed.status_code == 302
    campaign = NotificationCampaign.objects.get()
    assert campaign.status == "sending"
    assert abs((campaign.scheduled_for - timezone.now()).total_seconds()) < 60
    assert Msg.objects.count() == 2


def test_the_current_minute_is_not_the_past(logged_in_client, gateway_session, groups):
    data = _campaign_post(
        gateway_session, groups[:1], when="later", scheduled_for=_local(timezone.now())
    )
    assert logged_in_client.post(reverse("campaigns:new"), data).status_code == 302


def test_a_future_time_needs_no_confirmation(logged_in_client, gateway_session, groups):
    data = _campaign_post(
        gateway_session,
        groups[:1],
        when="later",
        scheduled_for=_local(timezone.now() + timedelta(hours=1)),
    )
    assert logged_in_client.post(reverse("campaigns:new"), data).status_code == 302
    assert NotificationCampaign.objects.get().status == "scheduled"


def test_the_queue_form_refuses_a_past_time_until_confirmed(logged_in_client, gateway_session):
    data = {
        "session": str(gateway_session.id),
        "recipient_jid": "120363025246125486@g.us",
        "message": "Hello",
        "when": "later",
        "scheduled_for": _local(timezone.now() - timedelta(days=1)),
    }
    refused = logged_in_client.post(reverse("campaigns:queue-create"), data)
    assert refused.status_code == 400
    assert "has already passed" in refused.text
    assert 'name="send_now_instead"' in refused.text
    assert not Msg.objects.exists()

    confirmed = logged_in_client.post(
        reverse("campaigns:queue-create"), {**data, "send_now_instead": "1"}
    )
    assert confirmed.status_code == 302
    row = Msg.objects.get()
    assert abs((row.scheduled_for - timezone.now()).total_seconds()) < 60


# --- times in the current time zone ------------------------------------------------------------


def test_times_are_typed_and_shown_in_the_current_time_zone(
    settings, logged_in_client, organization, gateway_session, groups
):
    # The organization's time zone, which a middleware activates for pages.
    settings.TIME_ZONE = "America/New_York"
    if hasattr(organization, "time_zone"):
        organization.time_zone = "America/New_York"
        organization.save()
    logged_in_client.post(
        reverse("campaigns:new"),
        _campaign_post(gateway_session, groups[:1], when="later", scheduled_for="2031-01-02T10:30"),
    )
    campaign = NotificationCampaign.objects.get()
    assert campaign.scheduled_for.astimezone(UTC).hour == 15  # 10:30 EST = 15:30 UTC
    detail = logged_in_client.get(reverse("campaigns:detail", args=[campaign.id])).text
    assert "send at 2031-01-02 10:30 EST" in detail
    form = logged_in_client.get(reverse("campaigns:new")).text
    assert "America/New_York</span>" in form


# --- the campaign results CSV ------------------------------------------------------------------


def test_it_exports_a_campaigns_results_as_csv(logged_in_client, organization, gateway_session):
    evil = group_create(
        organization=organization, session=gateway_session, group_name="=cmd|' /C calc'!A0"
    )
    plain = group_create(organization=organization, session=gateway_session, group_name="Fans")
    campaign = services.campaign_create(
        organization=organization,
        session=gateway_session,
        name="Tour news",
        message="x",
        group_ids=[evil.id, plain.id],
    )
    sent_at = timezone.now()
    campaign.groups.filter(group_jid=plain.group_jid).update(
        status="sent", sent_at=sent_at, message_id="wamid.1"
    )
    campaign.groups.filter(group_jid=evil.group_jid).update(
        status="failed", error_message="-1 rejected"
    )

    response = logged_in_client.get(reverse("campaigns:results-csv", args=[campaign.id]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="tour-news-results.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == ["group_name", "group_jid", "status", "sent_at", "message_id", "error"]
    by_jid = {row[1]: row for row in rows[1:]}
    assert by_jid[evil.group_jid] == [
        "'=cmd|' /C calc'!A0",
        evil.group_jid,
        "failed",
        "",
        "",
        "'-1 rejected",
    ]
    assert by_jid[plain.group_jid][:3] == ["Fans", plain.group_jid, "sent"]
    assert by_jid[plain.group_jid][3] == timezone.localtime(sent_at).isoformat(timespec="seconds")
    assert by_jid[plain.group_jid][4] == "wamid.1"


def test_another_organization_cannot_download_the_results(
    client, other_user, organization, gateway_session, groups
):
    campaign = services.campaign_create(
        organization=organization,
        session=gateway_session,
        name="x",
        message="y",
        group_ids=[groups[0].id],
    )
    client.force_login(other_user)
    assert client.get(reverse("campaigns:results-csv", args=[campaign.id])).status_code == 404
