"""Admin: the three tables are browsable and the queue actions go through the services."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from campaigns_app import services
from campaigns_app.models import ScheduledWhatsAppMessage
from tests.campaigns_app.conftest import later, message_create, status_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-root-123")
    client.force_login(admin)
    return client


@pytest.mark.parametrize(
    "model", ["scheduledwhatsappmessage", "notificationcampaign", "notificationcampaigngroup"]
)
def test_it_lists_the_queue_tables(admin_client, organization, gateway_session, groups, model):
    services.campaign_create(
        organization=organization,
        session=gateway_session,
        name="Admin view",
        message="Hi",
        group_ids=[g.id for g in groups[:2]],
    )
    response = admin_client.get(reverse(f"admin:campaigns_app_{model}_changelist"))
    assert response.status_code == 200


def test_it_cancels_and_resolves_from_the_admin(admin_client, gateway_session):
    pending = message_create(session=gateway_session, scheduled_for=later())
    review = message_create(session=gateway_session, scheduled_for=later())
    ScheduledWhatsAppMessage.objects.filter(id=review.id).update(status="needs_review")
    url = reverse("admin:campaigns_app_scheduledwhatsappmessage_changelist")

    admin_client.post(url, {"action": "cancel", "_selected_action": [str(pending.id)]})
    response = admin_client.post(
        url,
        {"action": "mark_failed", "_selected_action": [str(review.id), str(pending.id)]},
        follow=True,
    )

    assert status_of(pending) == "cancelled"
    assert status_of(review) == "failed"
    assert "Only messages that need review can be resolved" in response.text
