"""Admin: the three tables are browsable, and the queue-row actions are the queue page's
(`campaigns_app.row_actions`): same services, same outcome for the same row."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.messages import get_messages
from django.test import Client, RequestFactory
from django.urls import reverse

from campaigns_app import services
from campaigns_app.models import (
    NotificationCampaignGroup,
    ScheduledWhatsAppMessage,
)
from campaigns_app.row_actions import ROW_ACTIONS, RowAction
from tests import factories
from tests.campaigns_app.conftest import later, message_create, status_of

pytestmark = pytest.mark.django_db

QUEUE_CHANGELIST = "admin:campaigns_app_scheduledwhatsappmessage_changelist"


@pytest.fixture
def staff_client(db) -> Client:
    """A superuser in the admin, on its own client (the page tests log `client` in as a member)."""
    root = factories.user_create(username="root", is_staff=True, is_superuser=True)
    staff = Client()
    staff.force_login(root)
    return staff


@pytest.mark.parametrize(
    "model", ["scheduledwhatsappmessage", "notificationcampaign", "notificationcampaigngroup"]
)
def test_it_lists_the_queue_tables(staff_client, organization, gateway_session, groups, model):
    services.campaign_create(
        organization=organization,
        session=gateway_session,
        name="Admin view",
        message="Hi",
        group_ids=[g.id for g in groups[:2]],
    )
    response = staff_client.get(reverse(f"admin:campaigns_app_{model}_changelist"))
    assert response.status_code == 200


def test_it_cancels_and_resolves_from_the_admin(staff_client, gateway_session):
    pending = message_create(session=gateway_session, scheduled_for=later())
    review = message_create(session=gateway_session, scheduled_for=later())
    ScheduledWhatsAppMessage.objects.filter(id=review.id).update(status="needs_review")
    url = reverse(QUEUE_CHANGELIST)

    staff_client.post(url, {"action": "cancel", "_selected_action": [str(pending.id)]})
    response = staff_client.post(
        url,
        {"action": "mark_failed", "_selected_action": [str(review.id), str(pending.id)]},
        follow=True,
    )

    assert status_of(pending) == "cancelled"
    assert status_of(review) == "failed"
    assert "Only messages that need review can be resolved" in response.text


@pytest.mark.parametrize("model", [ScheduledWhatsAppMessage, NotificationCampaignGroup])
def test_both_admins_offer_exactly_the_row_actions_of_the_table(model):
    request = RequestFactory().get("/admin/")
    request.user = factories.user_create(username="root", is_staff=True, is_superuser=True)

    actions = admin.site._registry[model].get_actions(request)

    offered = {name: str(description) for name, (_, _, description) in actions.items()}
    offered.pop("delete_selected", None)
    assert offered == {a.admin_name: a.admin_description for a in ROW_ACTIONS}


def _last_message(response) -> str:
    return [str(m) for m in get_messages(response.wsgi_request)][-1]


def _outcome(row: ScheduledWhatsAppMessage) -> tuple:
    row.refresh_from_db()
    return (row.status, row.error_message, row.retry_count, bool(row.sent_at))


@pytest.mark.parametrize("action", ROW_ACTIONS, ids=lambda a: a.name)
@pytest.mark.parametrize("status", ["pending", "failed", "needs_review"])
def test_the_page_and_the_admin_run_the_same_row_action(
    logged_in_client, staff_client, gateway_session, action: RowAction, status
):
    on_page, in_admin = (
        message_create(session=gateway_session, scheduled_for=later()) for _ in range(2)
    )
    ScheduledWhatsAppMessage.objects.filter(id__in=[on_page.id, in_admin.id]).update(
        status=status, retry_count=2
    )

    page = logged_in_client.post(reverse("campaigns:queue-action", args=[on_page.id, action.name]))
    admin_answer = staff_client.post(
        reverse(QUEUE_CHANGELIST),
        {"action": action.admin_name, "_selected_action": [str(in_admin.id)]},
    )

    assert page.status_code == admin_answer.status_code == 302
    assert _outcome(on_page) == _outcome(in_admin)
    page_text, admin_text = _last_message(page), _last_message(admin_answer)
    if page_text == action.done:
        assert admin_text == f"{action.admin_done}: 1."
        assert on_page.status != status or action.name == "send-now"  # pending stays pending
    else:  # the service refused: both show its message, and nothing changed
        assert admin_text == f"{in_admin}: {page_text}"
        assert on_page.status == status


def test_a_campaign_group_action_runs_on_its_queue_row(
    staff_client, organization, gateway_session, groups
):
    campaign = services.campaign_create(
        organization=organization,
        session=gateway_session,
        message="Hi",
        group_ids=[groups[0].id],
        scheduled_for=later(),
    )
    group_row = campaign.groups.get()

    staff_client.post(
        reverse("admin:campaigns_app_notificationcampaigngroup_changelist"),
        {"action": "cancel", "_selected_action": [str(group_row.id)]},
    )

    assert status_of(group_row.scheduled_message) == "cancelled"
    group_row.refresh_from_db()
    assert (group_row.status, group_row.error_message) == ("cancelled", "Cancelled by staff.")
