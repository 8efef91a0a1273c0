"""The campaign page's delivery receipts (INTERFACE §8): "delivered N · read M of K members" per
group and in total, from real message-ack webhooks; its wording (one group, not "1 groups");
and the polled progress partial carrying the new numbers."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import strip_tags

from campaigns_app import queue, selectors, services
from campaigns_app.models import NotificationCampaign, NotificationCampaignGroup
from tests.helpers import load_payload

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def campaign_create(organization, session, groups) -> NotificationCampaign:
    return services.campaign_create(
        organization=organization,
        session=session,
        name="Tour news",
        message="New dates!",
        group_ids=[g.id for g in groups],
    )


def ack(webhook_client, session, message_id: str, kind: str, participant: str) -> None:
    payload = load_payload("message_ack")
    payload.update(
        sessionId=session.session_id,
        messageId=message_id,
        ack=kind,
        participant=participant,
        id=f"ack-{message_id}-{kind}-{participant}",
    )
    response = webhook_client.post(
        reverse("campaigns-api:webhook-message-ack"),
        data=json.dumps(payload),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content


def text_of(html: str, element_id: str) -> str:
    match = re.search(rf'<span[^>]*id="{element_id}"[^>]*>(.*?)</span>', html, re.S)
    assert match, f"#{element_id} missing"
    return " ".join(strip_tags(match.group(1)).split())


def receipts_cell(html: str, group_jid: str) -> tuple[str, str]:
    """(data-receipts, text) of a group row's receipts cell."""
    row = re.search(rf'<tr[^>]*data-group-jid="{re.escape(group_jid)}"[^>]*>(.*?)</tr>', html, re.S)
    assert row, f"row of {group_jid} missing"
    cell = re.search(r'<td[^>]*data-receipts="([^"]*)"[^>]*>(.*?)</td>', row.group(1), re.S)
    assert cell, f"receipts cell of {group_jid} missing"
    return cell.group(1), " ".join(strip_tags(cell.group(2)).split())


def test_it_says_1_group_not_1_groups(
    logged_in_client, organization, gateway_session, groups, gateway_sends
):
    campaign = campaign_create(organization, gateway_session, groups[:1])
    page = logged_in_client.get(reverse("campaigns:detail", args=[campaign.id])).text
    assert text_of(page, "campaign-counts") == "0 sent · 0 failed · 1 waiting · 1 group"
    assert "· 1 group</p>" in page
    assert "Cancel the 1 group still waiting?" in page
    assert "groups" not in text_of(page, "campaign-counts")

    two = campaign_create(organization, gateway_session, groups[1:3])
    page = logged_in_client.get(reverse("campaigns:detail", args=[two.id])).text
    assert text_of(page, "campaign-counts") == "0 sent · 0 failed · 2 waiting · 2 groups"
    assert "Cancel the 2 groups still waiting?" in page


def test_it_shows_each_groups_receipts_and_the_totals_from_the_acks(
    logged_in_client, webhook_client, organization, gateway_session, groups, gateway_sends
):
    campaign = campaign_create(organization, gateway_session, groups[:3])
    queue.queue_process_once()
    first, second, third = NotificationCampaignGroup.objects.filter(campaign=campaign).order_by(
        "group_name"
    )
    url = reverse("campaigns:detail", args=[campaign.id])
    before = logged_in_client.get(url).text
    audience = sum(g.participant_count for g in groups[:3])
    assert text_of(before, "campaign-receipts") == f"· delivered 0 · read 0 of {audience} members"
    assert receipts_cell(before, first.group_jid) == (
        "0/0",
        f"delivered 0 · read 0 of {groups[0].participant_count} members",
    )

    for who in ("4915110000001", "4915110000002", "4915110000003@s.whatsapp.net"):
        ack(webhook_client, gateway_session, first.message_id, "delivered", who)
    ack(webhook_client, gateway_session, first.message_id, "read", "4915110000002")
    ack(webhook_client, gateway_session, second.message_id, "read", "4915110000009")

    after = logged_in_client.get(url).text
    assert 'data-receipts="4/2"' in after
    assert text_of(after, "campaign-receipts") == f"· delivered 4 · read 2 of {audience} members"
    data, text = receipts_cell(after, first.group_jid)
    assert data == "3/1"
    assert text.startswith(f"delivered 3 · read 1 of {groups[0].participant_count} members")
    assert "first read" in text
    assert receipts_cell(after, second.group_jid)[0] == "1/1"
    assert receipts_cell(after, third.group_jid) == (
        "0/0",
        f"delivered 0 · read 0 of {groups[2].participant_count} members",
    )


def test_a_failed_groups_members_are_not_counted_as_reached(
    logged_in_client, organization, gateway_session, groups, gateway_sends
):
    gateway_sends.script = [(200, {"messageId": "wamid.ok"}), (400, {"error": "Bad group"})]
    campaign = campaign_create(organization, gateway_session, groups[:2])
    queue.queue_process_once()
    sent = NotificationCampaignGroup.objects.get(campaign=campaign, status="sent")
    failed = NotificationCampaignGroup.objects.get(campaign=campaign, status="failed")
    members = {g.id: g.participant_count for g in groups}

    page = logged_in_client.get(reverse("campaigns:detail", args=[campaign.id])).text

    # Only the group the message reached counts towards "of K members".
    assert text_of(page, "campaign-receipts") == (
        f"· delivered 0 · read 0 of {members[sent.group_id]} members"
    )
    assert receipts_cell(page, failed.group_jid) == ("0/0", "—")


def test_a_late_error_turns_the_groups_receipts_into_a_dash(
    logged_in_client, webhook_client, organization, gateway_session, groups, gateway_sends
):
    campaign = campaign_create(organization, gateway_session, groups[:2])
    queue.queue_process_once()
    first, second = NotificationCampaignGroup.objects.filter(campaign=campaign).order_by(
        "group_name"
    )
    payload = load_payload("message_error")
    payload.update(
        sessionId=gateway_session.session_id,
        messageId=second.message_id,
        groupJid=second.group_jid,
        id="late-420",
    )
    response = webhook_client.post(
        reverse("campaigns-api:webhook-message-error"),
        data=json.dumps(payload),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    second.refresh_from_db()
    assert second.status == "failed" and second.message_id

    page = logged_in_client.get(reverse("campaigns:detail", args=[campaign.id])).text

    assert receipts_cell(page, second.group_jid) == ("0/0", "—")
    assert text_of(page, "campaign-receipts") == (
        f"· delivered 0 · read 0 of {groups[0].participant_count} members"
    )
    assert text_of(page, "campaign-counts").startswith("1 sent · 1 failed")


def test_the_polled_partial_brings_new_receipts_while_it_watches(
    logged_in_client, webhook_client, organization, gateway_session, groups, gateway_sends
):
    campaign = campaign_create(organization, gateway_session, groups[:1])
    queue.queue_process_once()
    group = NotificationCampaignGroup.objects.get(campaign=campaign)
    # Past the late-error window: the partial polls for receipts only.
    NotificationCampaignGroup.objects.filter(id=group.id).update(
        sent_at=timezone.now() - timedelta(seconds=selectors.LATE_ERROR_WINDOW_SECONDS + 1)
    )
    url = reverse("campaigns:progress", args=[campaign.id])

    quiet = logged_in_client.get(url, **HTMX).text
    assert 'data-watching="receipts"' in quiet
    assert 'hx-trigger="every 5s"' in quiet
    assert receipts_cell(quiet, group.group_jid)[0] == "0/0"
    assert text_of(quiet, "campaign-counts") == "1 sent · 0 failed · 0 waiting · 1 group"

    ack(webhook_client, gateway_session, group.message_id, "delivered", "4915110000001")
    ack(webhook_client, gateway_session, group.message_id, "read", "4915110000001")
    ack(webhook_client, gateway_session, group.message_id, "delivered", "4915110000002")

    polled = logged_in_client.get(url, **HTMX).text
    assert 'data-watching="receipts"' in polled
    assert receipts_cell(polled, group.group_jid)[0] == "2/1"
    assert text_of(polled, "campaign-receipts") == (
        f"· delivered 2 · read 1 of {groups[0].participant_count} members"
    )
    campaign.refresh_from_db()
    assert (campaign.delivered_count, campaign.read_count) == (2, 1)
