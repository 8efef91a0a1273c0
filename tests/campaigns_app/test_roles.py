"""Roles on campaigns and the queue (INTERFACE.md §6): members read and create; queue actions
and retrying failed groups need an admin. A forbidden action answers 403 and changes nothing."""

from __future__ import annotations

import pytest

from campaigns_app.models import NotificationCampaign, ScheduledWhatsAppMessage
from whatsapp_crm.models import OrganizationMember

Role = OrganizationMember.Role


@pytest.fixture
def failed_row(organization, gateway_session):
    return ScheduledWhatsAppMessage.objects.create(
        organization=organization,
        session=gateway_session,
        recipient_jid="120363000000000001@g.us",
        message="hi",
        status=ScheduledWhatsAppMessage.Status.FAILED,
        error_message="boom",
    )


@pytest.fixture
def campaign(organization, gateway_session):
    return NotificationCampaign.objects.create(
        organization=organization,
        session=gateway_session,
        name="c",
        message="m",
        status=NotificationCampaign.Status.PARTIAL_FAILURE,
        failed_count=1,
    )


@pytest.mark.parametrize("action", ["retry", "cancel", "mark-sent", "mark-failed"])
def test_a_member_cannot_run_queue_actions(member_client, failed_row, action):
    response = member_client.post(f"/queue/{failed_row.pk}/{action}/", HTTP_HX_REQUEST="true")

    assert response.status_code == 403
    failed_row.refresh_from_db()
    assert failed_row.status == ScheduledWhatsAppMessage.Status.FAILED
    assert "admin" in response["HX-Trigger"]


def test_a_member_cannot_retry_failed_groups(member_client, member_api, campaign):
    page = member_client.post(f"/campaigns/{campaign.pk}/retry-failed/", HTTP_HX_REQUEST="true")
    api = member_api.post(f"/api/campaigns/{campaign.pk}/retry-failed/")

    assert (page.status_code, api.status_code) == (403, 403)
    assert api.json()["success"] is False
    assert "admin" in api.json()["error"]


def test_a_member_reads_and_creates(member_client, member_api, failed_row, gateway_session):
    assert member_client.get("/queue/").status_code == 200
    assert member_api.get(f"/api/scheduled-messages/{failed_row.pk}/").status_code == 200
    created = member_api.post(
        "/api/scheduled-messages/",
        {
            "session": str(gateway_session.pk),
            "recipient_jid": "120363000000000002@g.us",
            "message": "hello",
        },
        format="json",
    )
    assert created.status_code == 201


def test_the_queue_page_hides_actions_from_members(member_client, failed_row):
    html = member_client.get("/queue/").content.decode()

    assert f"/queue/{failed_row.pk}/retry/" not in html


def test_an_admin_runs_queue_actions(client, admin_role_user, failed_row):
    client.force_login(admin_role_user)

    response = client.post(f"/queue/{failed_row.pk}/retry/", HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    failed_row.refresh_from_db()
    assert failed_row.status == ScheduledWhatsAppMessage.Status.PENDING
