"""Cancelled is a state (INTERFACE.md §3, §6): cancelling a campaign, retrying around cancelled
groups and the campaign's schedule, and the queue-row actions that say what they do."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns_app import queue, services
from campaigns_app.models import (
    NotificationCampaign,
    NotificationCampaignGroup,
    ScheduledWhatsAppMessage,
)
from campaigns_app.row_actions import row_buttons
from tests.campaigns_app.conftest import later, message_create, status_of
from whatsapp_crm.errors import ApplicationError

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def campaign_for(organization, session, groups, **kwargs) -> NotificationCampaign:
    return services.campaign_create(
        organization=organization,
        session=session,
        name="Tour news",
        message="New dates!",
        group_ids=[g.id for g in groups],
        **kwargs,
    )


def fetch(campaign: NotificationCampaign) -> NotificationCampaign:
    return NotificationCampaign.objects.get(id=campaign.id)


def rows_of(campaign: NotificationCampaign):
    return ScheduledWhatsAppMessage.objects.filter(campaign_group__campaign=campaign).order_by(
        "recipient_jid"
    )


def snapshot(campaign: NotificationCampaign) -> tuple:
    """Everything a refused cancel must leave unchanged."""
    c = fetch(campaign)
    return (
        c.status,
        c.sent_count,
        c.failed_count,
        c.cancelled_count,
        sorted(rows_of(campaign).values_list("status", flat=True)),
        sorted(campaign.groups.values_list("status", flat=True)),
    )


# --- the campaign ---------------------------------------------------------------------------


def test_it_cancels_a_scheduled_campaign_and_shows_it_cancelled_not_failed(
    logged_in_client, organization, gateway_session, groups, gateway_sends
):
    campaign = campaign_for(organization, gateway_session, groups[:2], scheduled_for=later(hours=5))

    result = services.campaign_cancel(campaign=campaign)

    assert (result.cancelled, result.in_flight, result.in_review) == (2, 0, 0)
    campaign = fetch(campaign)
    assert (campaign.status, campaign.sent_count, campaign.failed_count) == ("cancelled", 0, 0)
    assert campaign.cancelled_count == 2 and campaign.finished_at is not None
    assert set(campaign.groups.values_list("status", flat=True)) == {"cancelled"}
    assert set(rows_of(campaign).values_list("status", flat=True)) == {"cancelled"}
    page = logged_in_client.get(reverse("campaigns:detail", args=[campaign.id])).text
    assert "0 sent · 0 failed · 2 cancelled" in page
    assert 'data-status="cancelled"' in page
    assert "badge-red" not in page and "Failed ·" not in page
    assert "Cancel campaign" not in page  # finished: nothing left to cancel


def test_it_never_sends_a_cancelled_campaign_even_after_retry_and_its_time(
    organization, gateway_session, groups, gateway_sends
):
    """The issue's report: cancel, then "Retry failed groups" sent both within 10 s."""
    campaign = campaign_for(organization, gateway_session, groups[:2], scheduled_for=later(hours=5))
    services.campaign_cancel(campaign=campaign)

    assert services.campaign_retry_failed(campaign=campaign) == 0
    queue.queue_process_once()
    queue.queue_process_once(now=later(hours=6))

    assert gateway_sends.calls == []
    assert fetch(campaign).status == "cancelled"


def test_it_retries_failed_groups_of_a_scheduled_campaign_at_its_time_not_now(
    organization, gateway_session, groups, gateway_sends
):
    when = later(hours=5)
    campaign = campaign_for(organization, gateway_session, groups[:3], scheduled_for=when)
    first, second, third = rows_of(campaign)
    # One group was sent early by hand and WhatsApp refused it; one was cancelled.
    gateway_sends.script = [(400, {"error": "Group not found"})]
    services.scheduled_message_send_now(message=first)
    queue.queue_process_once()
    services.scheduled_message_cancel(message=second)
    assert (status_of(first), status_of(second), fetch(campaign).status) == (
        "failed",
        "cancelled",
        "scheduled",
    )

    assert services.campaign_retry_failed(campaign=campaign) == 1

    first.refresh_from_db()
    assert first.status == "pending" and first.next_attempt_at == when
    assert fetch(campaign).status == "scheduled"
    calls_before = len(gateway_sends.calls)
    queue.queue_process_once()
    assert len(gateway_sends.calls) == calls_before  # nothing early
    queue.queue_process_once(now=when + timedelta(seconds=1))
    sent_to = {call["to"] for call in gateway_sends.calls[calls_before:]}
    assert sent_to == {first.recipient_jid, third.recipient_jid}  # never the cancelled one
    assert status_of(second) == "cancelled"
    campaign = fetch(campaign)
    assert (campaign.status, campaign.sent_count, campaign.cancelled_count) == ("sent", 2, 1)


def test_it_leaves_rows_being_sent_to_finish_and_counts_as_usual_once_something_was_sent(
    organization, gateway_session, groups, gateway_sends
):
    campaign = campaign_for(organization, gateway_session, groups[:3])
    claim = queue.queue_claim(limit=1)
    in_flight = ScheduledWhatsAppMessage.objects.get(id=claim.row_ids[0])

    result = services.campaign_cancel(campaign=campaign)

    assert (result.cancelled, result.in_flight) == (2, 1)
    assert "left to finish" in result.message
    assert status_of(in_flight) == "sending"
    assert fetch(campaign).status == "sending"
    queue.queue_send_claimed(token=claim.token, row_ids=claim.row_ids)
    queue.queue_process_once()
    assert len(gateway_sends.calls) == 1
    campaign = fetch(campaign)
    assert (campaign.status, campaign.sent_count, campaign.failed_count) == ("sent", 1, 0)
    assert campaign.cancelled_count == 2


def test_it_is_cancelled_when_nothing_was_sent_even_if_a_group_failed(
    organization, gateway_session, groups, gateway_sends
):
    gateway_sends.script = [(400, {"error": "Group not found"})]
    campaign = campaign_for(organization, gateway_session, groups[:2], scheduled_for=later())
    first, _ = rows_of(campaign)
    services.scheduled_message_send_now(message=first)
    queue.queue_process_once()

    services.campaign_cancel(campaign=campaign)

    campaign = fetch(campaign)
    assert (campaign.status, campaign.failed_count, campaign.cancelled_count) == ("cancelled", 1, 1)


def test_it_refuses_to_cancel_a_finished_campaign_and_changes_nothing(
    organization, gateway_session, groups, gateway_sends
):
    campaign = campaign_for(organization, gateway_session, groups[:2])
    queue.queue_process_once()
    before = snapshot(campaign)

    with pytest.raises(ApplicationError, match="Only a scheduled or sending campaign"):
        services.campaign_cancel(campaign=fetch(campaign))

    assert snapshot(campaign) == before


def test_restoring_a_cancelled_group_puts_the_campaign_back_on_schedule(
    organization, gateway_session, groups
):
    when = later(hours=5)
    campaign = campaign_for(organization, gateway_session, groups[:2], scheduled_for=when)
    services.campaign_cancel(campaign=campaign)
    row = rows_of(campaign).first()

    services.scheduled_message_restore(message=row)

    row.refresh_from_db()
    assert (row.status, row.next_attempt_at) == ("pending", when)
    assert NotificationCampaignGroup.objects.get(id=row.campaign_group_id).status == "pending"
    campaign = fetch(campaign)
    assert (campaign.status, campaign.cancelled_count, campaign.finished_at) == (
        "scheduled",
        1,
        None,
    )


# --- the API and the page --------------------------------------------------------------------


def test_the_api_cancels_a_campaign(api_client, organization, gateway_session, groups):
    campaign = campaign_for(organization, gateway_session, groups[:2], scheduled_for=later())

    response = api_client.post(f"/api/campaigns/{campaign.id}/cancel/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["cancelled"], body["cancelled_count"]) == ("cancelled", 2, 2)
    assert {g["status"] for g in body["groups"]} == {"cancelled"}
    assert body["success"] is True and body["in_flight"] == 0


def test_the_api_refuses_a_member_and_changes_nothing(
    member_api, organization, gateway_session, groups
):
    campaign = campaign_for(organization, gateway_session, groups[:2], scheduled_for=later())
    before = snapshot(campaign)

    response = member_api.post(f"/api/campaigns/{campaign.id}/cancel")

    assert response.status_code == 403
    assert response.json()["success"] is False and "admin" in response.json()["error"]
    assert snapshot(campaign) == before


def test_the_api_answers_404_for_another_organization_and_changes_nothing(
    other_api_client, api_client, organization, gateway_session, groups
):
    campaign = campaign_for(organization, gateway_session, groups[:2], scheduled_for=later())
    before = snapshot(campaign)

    assert other_api_client.post(f"/api/campaigns/{campaign.id}/cancel/").status_code == 404
    assert api_client.post("/api/campaigns/not-a-uuid/cancel/").status_code == 404
    assert snapshot(campaign) == before


def test_the_api_answers_400_for_a_finished_campaign_and_changes_nothing(
    api_client, organization, gateway_session, groups
):
    campaign = campaign_for(organization, gateway_session, groups[:1], scheduled_for=later())
    services.campaign_cancel(campaign=campaign)
    before = snapshot(campaign)

    response = api_client.post(f"/api/campaigns/{campaign.id}/cancel/")

    assert response.status_code == 400
    assert "Cancelled" in response.json()["error"]
    assert snapshot(campaign) == before


def test_the_page_cancels_for_an_admin_and_refuses_a_member(
    client, member, user, organization, gateway_session, groups
):
    campaign = campaign_for(organization, gateway_session, groups[:2], scheduled_for=later())
    url = reverse("campaigns:cancel", args=[campaign.id])
    before = snapshot(campaign)
    client.force_login(member)

    assert client.post(url, **HTMX).status_code == 403
    assert snapshot(campaign) == before
    assert "Cancel campaign" not in client.get(reverse("campaigns:detail", args=[campaign.id])).text

    client.force_login(user)
    assert "Cancel campaign" in client.get(reverse("campaigns:detail", args=[campaign.id])).text
    response = client.post(url, **HTMX)

    assert response.status_code == 200
    assert "2 groups cancelled" in response.headers["HX-Trigger"]
    assert fetch(campaign).status == "cancelled"
    assert 'data-status="cancelled"' in response.text


# --- queue rows ------------------------------------------------------------------------------


def test_cancelled_rows_are_never_claimed(gateway_session, gateway_sends):
    rows = [message_create(session=gateway_session, scheduled_for=later(minutes=1)) for _ in "ab"]
    for row in rows:
        services.scheduled_message_cancel(message=row)

    queue.queue_process_once(now=later(hours=3))

    assert gateway_sends.calls == []
    assert [status_of(row) for row in rows] == ["cancelled", "cancelled"]


def test_each_row_action_says_what_it_does():
    labels = {status: [b.label for b in row_buttons(status)] for status in ("pending", "failed")}
    assert labels == {"pending": ["Send now", "Cancel"], "failed": ["Retry now"]}
    assert [b.label for b in row_buttons("cancelled")] == ["Restore"]
    assert [b.label for b in row_buttons("sent")] == []


def test_restore_brings_a_row_back_at_its_time_or_now_if_it_passed(gateway_session):
    future = message_create(session=gateway_session, scheduled_for=later(hours=1))
    past = message_create(session=gateway_session, scheduled_for=later(hours=1))
    ScheduledWhatsAppMessage.objects.filter(id=past.id).update(
        scheduled_for=timezone.now() - timedelta(minutes=5)
    )
    old_client_id = ScheduledWhatsAppMessage.objects.get(id=future.id).client_message_id
    for row in (future, past):
        services.scheduled_message_cancel(message=row)

    before = timezone.now()
    for row in (future, past):
        services.scheduled_message_restore(message=row)

    future.refresh_from_db()
    past.refresh_from_db()
    assert (future.status, future.next_attempt_at) == ("pending", future.scheduled_for)
    assert future.client_message_id != old_client_id and future.error_message == ""
    assert past.status == "pending" and before <= past.next_attempt_at <= timezone.now()


@pytest.mark.parametrize(
    ("service", "status", "says"),
    [
        ("scheduled_message_retry_now", "pending", "use Send now"),
        ("scheduled_message_retry_now", "cancelled", "Restore it"),
        ("scheduled_message_send_now", "failed", "Only pending messages can be sent now"),
        ("scheduled_message_restore", "failed", "Only cancelled messages can be restored"),
    ],
)
def test_each_row_service_refuses_other_statuses_and_changes_nothing(
    gateway_session, service, status, says
):
    row = message_create(session=gateway_session, scheduled_for=later())
    ScheduledWhatsAppMessage.objects.filter(id=row.id).update(status=status)
    row.refresh_from_db()
    before = (row.status, row.next_attempt_at, row.client_message_id)

    with pytest.raises(ApplicationError, match=says):
        getattr(services, service)(message=row)

    row.refresh_from_db()
    assert (row.status, row.next_attempt_at, row.client_message_id) == before


def test_send_now_moves_a_scheduled_row_forward_from_the_queue_page(
    logged_in_client, gateway_session, gateway_sends
):
    row = message_create(session=gateway_session, scheduled_for=later(hours=2))
    html = logged_in_client.get(reverse("campaigns:queue-table"), **HTMX).text
    cell = html.split(f'id="row-{row.id}"')[1].split("</tr>")[0]
    assert ">Send now<" in cell and ">Retry now<" not in cell

    logged_in_client.post(reverse("campaigns:queue-action", args=[row.id, "send-now"]), **HTMX)
    queue.queue_process_once()

    assert status_of(row) == "sent"
