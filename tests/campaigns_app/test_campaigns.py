"""Campaigns: creation rules, one queue row per group, recount, retry of failed groups."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns_app import queue, services
from campaigns_app.models import (
    NotificationCampaign,
    NotificationCampaignGroup,
    ScheduledWhatsAppMessage,
)
from tests import factories
from tests.campaigns_app.conftest import group_create, in_thread, later
from tests.helpers import load_payload
from whatsapp_crm.errors import ApplicationError

pytestmark = pytest.mark.django_db(transaction=True)


def campaign_for(organization, session, groups, **kwargs) -> NotificationCampaign:
    return services.campaign_create(
        organization=organization,
        session=session,
        name=kwargs.pop("name", "Tour news"),
        message=kwargs.pop("message", "New dates announced!"),
        group_ids=[g.id for g in groups],
        **kwargs,
    )


def fetch(campaign: NotificationCampaign) -> NotificationCampaign:
    return NotificationCampaign.objects.get(id=campaign.id)


def post_error(session, message_id: str, event_id: str):
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=settings.WEBHOOK_API_KEY)
    payload = load_payload("message_error")
    payload.update(sessionId=session.session_id, messageId=message_id, id=event_id)
    return client.post(
        reverse("campaigns-api:webhook-message-error"),
        data=json.dumps(payload),
        content_type="application/json",
    )


def test_it_queues_one_row_per_group(organization, gateway_session, groups):
    campaign = campaign_for(organization, gateway_session, groups)

    assert (campaign.status, campaign.total_groups) == ("sending", 5)
    rows = NotificationCampaignGroup.objects.filter(campaign=campaign)
    assert {r.group_jid for r in rows} == {g.group_jid for g in groups}
    assert {r.status for r in rows} == {"pending"}
    queue = ScheduledWhatsAppMessage.objects.filter(campaign_group__campaign=campaign)
    assert queue.count() == 5
    assert {(m.recipient_jid, m.message, m.status) for m in queue} == {
        (g.group_jid, "New dates announced!", "pending") for g in groups
    }


def test_it_refuses_community_parents(organization, gateway_session, groups, community_parent):
    with pytest.raises(ApplicationError) as exc:
        campaign_for(organization, gateway_session, [groups[0], community_parent])

    assert "Community parent groups cannot receive messages" in exc.value.message
    assert exc.value.details == {"community_parents": [str(community_parent.id)]}
    assert not NotificationCampaign.objects.exists()
    assert not ScheduledWhatsAppMessage.objects.exists()


def test_it_refuses_groups_of_another_session_or_organization(
    organization, other_organization, gateway_session, groups
):
    other_session = factories.session_create(organization=organization)
    foreign_group = group_create(organization=organization, session=other_session)
    with pytest.raises(ApplicationError, match="another WhatsApp session"):
        campaign_for(organization, gateway_session, [groups[0], foreign_group])

    stranger = factories.session_create(organization=other_organization)
    strangers_group = group_create(organization=other_organization, session=stranger)
    with pytest.raises(ApplicationError, match="Unknown groups"):
        campaign_for(organization, gateway_session, [strangers_group])


def test_it_refuses_an_empty_message_or_no_groups(organization, gateway_session, groups):
    with pytest.raises(ApplicationError, match="empty"):
        campaign_for(organization, gateway_session, groups, message="  ")
    with pytest.raises(ApplicationError, match="at least one group"):
        campaign_for(organization, gateway_session, [])


def test_it_sends_every_group_and_finishes_sent(
    organization, gateway_session, groups, gateway_sends
):
    campaign = campaign_for(organization, gateway_session, groups)

    queue.queue_process_once()

    campaign = fetch(campaign)
    assert (campaign.status, campaign.sent_count, campaign.failed_count) == ("sent", 5, 0)
    assert campaign.finished_at is not None
    ids = set(campaign.groups.values_list("message_id", flat=True))
    assert ids == {f"wamid.{n:04d}" for n in range(1, 6)}
    assert {c["to"] for c in gateway_sends.calls} == {g.group_jid for g in groups}


def test_it_counts_failures_as_partial_or_total(
    organization, gateway_session, groups, gateway_sends
):
    gateway_sends.script = [(400, {"error": "Group not found"})] * 2
    partial = campaign_for(organization, gateway_session, groups)
    queue.queue_process_once()
    partial = fetch(partial)
    assert (partial.status, partial.sent_count, partial.failed_count) == ("partial_failure", 3, 2)
    failed_group = partial.groups.filter(status="failed").first()
    assert "Group not found" in failed_group.error_message

    gateway_sends.script = [(400, {"error": "Group not found"})] * 2
    total = campaign_for(organization, gateway_session, groups[:2])
    queue.queue_process_once()
    assert fetch(total).status == "failed"


def test_it_shows_retries_on_the_group_while_the_session_is_down(
    organization, gateway_session, groups, gateway_sends
):
    gateway_sends.script = [(503, {"error": "Session not connected"})]
    campaign = campaign_for(organization, gateway_session, groups[:1])

    queue.queue_process_once()

    group = campaign.groups.get()
    assert group.status == "pending"
    assert group.error_message.startswith("Retry 1/5 at ")
    assert fetch(campaign).status == "sending"


def test_it_waits_until_a_scheduled_campaign_is_due(
    organization, gateway_session, groups, gateway_sends
):
    campaign = campaign_for(organization, gateway_session, groups, scheduled_for=later(hours=1))
    assert campaign.status == "scheduled"

    queue.queue_process_once()
    assert gateway_sends.calls == []

    queue.queue_process_once(now=later(hours=2))
    assert fetch(campaign).status == "sent"


def test_it_retries_failed_groups_with_new_client_ids(
    organization, gateway_session, groups, gateway_sends
):
    gateway_sends.script = [(400, {"error": "Group not found"})]
    campaign = campaign_for(organization, gateway_session, groups)
    queue.queue_process_once()
    assert fetch(campaign).status == "partial_failure"
    first_ids = {c["clientMessageId"] for c in gateway_sends.calls}

    assert services.campaign_retry_failed(campaign=campaign) == 1
    assert fetch(campaign).status == "sending"
    queue.queue_process_once()

    campaign = fetch(campaign)
    assert (campaign.status, campaign.sent_count, campaign.failed_count) == ("sent", 5, 0)
    assert gateway_sends.calls[-1]["clientMessageId"] not in first_ids
    assert services.campaign_retry_failed(campaign=campaign) == 0


def test_it_fails_the_group_when_whatsapp_rejects_it_later(
    organization, gateway_session, groups, gateway_sends
):
    campaign = campaign_for(organization, gateway_session, groups)
    queue.queue_process_once()
    group = campaign.groups.first()

    response = post_error(gateway_session, group.message_id, "e1")

    assert response.status_code == 200
    group.refresh_from_db()
    assert group.status == "failed"
    assert (
        group.error_message == "WhatsApp error 420: Not allowed to send to a community parent group"
    )
    campaign = fetch(campaign)
    assert (campaign.status, campaign.sent_count, campaign.failed_count) == (
        "partial_failure",
        4,
        1,
    )


def test_it_resolves_a_group_under_review_and_recounts(
    organization, gateway_session, groups, gateway_sends
):
    import requests

    gateway_sends.script = [requests.exceptions.ReadTimeout("timed out")]
    campaign = campaign_for(organization, gateway_session, groups[:2])
    queue.queue_process_once()
    assert fetch(campaign).status == "sending"
    review = ScheduledWhatsAppMessage.objects.get(status="needs_review")
    assert review.campaign_group.error_message.startswith("Needs review")

    services.scheduled_message_resolve(message=review, sent=True)

    campaign = fetch(campaign)
    assert (campaign.status, campaign.sent_count) == ("sent", 2)


def test_it_cancels_a_group_without_failing_it(organization, gateway_session, groups):
    campaign = campaign_for(organization, gateway_session, groups[:2], scheduled_for=later())
    row = ScheduledWhatsAppMessage.objects.filter(campaign_group__campaign=campaign).first()

    services.scheduled_message_cancel(message=row)

    assert row.campaign_group.__class__.objects.get(id=row.campaign_group_id).status == "cancelled"
    campaign = fetch(campaign)
    assert (campaign.failed_count, campaign.cancelled_count, campaign.status) == (
        0,
        1,
        "scheduled",
    )


@pytest.mark.postgres
def test_it_recounts_correctly_under_concurrent_webhooks(
    organization, gateway_session, gateway_sends
):
    groups = [group_create(organization=organization, session=gateway_session) for _ in range(24)]
    campaign = campaign_for(organization, gateway_session, groups)
    queue.queue_process_once()
    assert fetch(campaign).sent_count == 24
    doomed = list(campaign.groups.order_by("group_jid")[:16])
    barrier = threading.Barrier(16)

    def deliver(group):
        barrier.wait()
        return post_error(gateway_session, group.message_id, f"evt-{group.id}").status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda g: in_thread(lambda: deliver(g))(), doomed))

    assert codes == [200] * 16
    campaign = fetch(campaign)
    assert (campaign.sent_count, campaign.failed_count, campaign.status) == (
        8,
        16,
        "partial_failure",
    )


@pytest.mark.postgres
def test_it_recounts_correctly_when_workers_record_concurrently(
    organization, gateway_session, gateway_sends
):
    groups = [group_create(organization=organization, session=gateway_session) for _ in range(20)]
    campaign = campaign_for(organization, gateway_session, groups)
    gateway_sends.script = [(200, {"messageId": f"w-{i}"}) for i in range(15)] + [
        (400, {"error": "Group not found"})
    ] * 5
    claims = [queue.queue_claim(limit=5) for _ in range(4)]
    barrier = threading.Barrier(4)

    def work(claim):
        barrier.wait()
        return queue.queue_send_claimed(token=claim.token, row_ids=claim.row_ids)

    with ThreadPoolExecutor(4) as pool:
        summaries = list(pool.map(lambda c: in_thread(lambda: work(c))(), claims))

    assert sum(s.sent for s in summaries) == 15
    campaign = fetch(campaign)
    assert (campaign.sent_count, campaign.failed_count, campaign.status) == (
        15,
        5,
        "partial_failure",
    )
