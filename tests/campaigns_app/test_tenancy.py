"""Another organization's ids answer 404 everywhere: pages, htmx partials and the JSON API."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns_app import services
from campaigns_app.models import NotificationCampaign, ScheduledWhatsAppMessage
from tests import factories
from tests.campaigns_app.conftest import group_create, later, message_create, status_of

Msg = ScheduledWhatsAppMessage
HTMX = {"HTTP_HX_REQUEST": "true"}

pytestmark = pytest.mark.django_db


@pytest.fixture
def campaign(organization, gateway_session, groups) -> NotificationCampaign:
    return services.campaign_create(
        organization=organization,
        session=gateway_session,
        name="Secret tour",
        message="New dates!",
        group_ids=[g.id for g in groups[:2]],
        scheduled_for=later(),
    )


def test_it_answers_404_for_another_organizations_campaign_partials(client, other_user, campaign):
    client.force_login(other_user)

    assert client.get(reverse("campaigns:progress", args=[campaign.id]), **HTMX).status_code == 404
    response = client.post(reverse("campaigns:retry-failed", args=[campaign.id]), **HTMX)
    assert response.status_code == 404
    assert "Secret tour" not in client.get(reverse("campaigns:list")).text


@pytest.mark.parametrize("action", ["cancel", "retry", "mark-sent", "mark-failed"])
def test_it_answers_404_for_another_organizations_queue_row(
    client, other_user, gateway_session, action
):
    row = message_create(session=gateway_session, scheduled_for=later())
    Msg.objects.filter(id=row.id).update(status="needs_review" if "mark" in action else "pending")
    before = status_of(row)
    client.force_login(other_user)

    response = client.post(reverse("campaigns:queue-action", args=[row.id, action]), **HTMX)

    assert response.status_code == 404
    assert status_of(row) == before
    assert row.recipient_jid not in client.get(reverse("campaigns:queue")).text


def test_it_offers_no_groups_of_another_organizations_session(
    client, other_user, gateway_session, groups
):
    client.force_login(other_user)

    response = client.get(
        reverse("campaigns:group-picker"), {"session": str(gateway_session.id)}, **HTMX
    )

    assert response.status_code == 200
    assert not any(g.group_name in response.text for g in groups)


def test_it_refuses_another_organizations_session_on_the_pages(
    client, other_user, gateway_session, groups
):
    client.force_login(other_user)

    response = client.post(
        reverse("campaigns:new"),
        {"session": str(gateway_session.id), "message": "Hi", "group_ids": [str(groups[0].id)]},
    )
    queued = client.post(
        reverse("campaigns:queue-create"),
        {"session": str(gateway_session.id), "recipient_jid": "1@g.us", "message": "Hi"},
    )

    assert response.status_code == 400 and queued.status_code == 400
    assert not NotificationCampaign.objects.exists() and not Msg.objects.exists()


def test_it_refuses_another_organizations_group_on_the_page(
    logged_in_client, other_organization, gateway_session
):
    stranger = factories.session_create(organization=other_organization)
    foreign = group_create(organization=other_organization, session=stranger)

    response = logged_in_client.post(
        reverse("campaigns:new"),
        {"session": str(gateway_session.id), "message": "Hi", "group_ids": [str(foreign.id)]},
    )

    assert response.status_code == 400
    assert f"Unknown group: {foreign.id}." in response.text
    assert not NotificationCampaign.objects.exists() and not Msg.objects.exists()


def test_it_answers_404_for_another_organizations_campaign_in_the_api(other_api_client, campaign):
    assert other_api_client.get(f"/api/campaigns/{campaign.id}/").status_code == 404
    assert other_api_client.post(f"/api/campaigns/{campaign.id}/retry-failed/").status_code == 404
    assert other_api_client.get("/api/campaigns/").json()["count"] == 0
    assert other_api_client.get("/api/scheduled-messages/").json()["count"] == 0
