"""Pages: campaigns list/new/detail with live progress, and the queue page with its actions."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns_app import queue, selectors, services
from campaigns_app.models import (
    NotificationCampaign,
    NotificationCampaignGroup,
    ScheduledWhatsAppMessage,
)
from campaigns_app.row_actions import row_buttons
from tests import factories
from tests.campaigns_app.conftest import later, message_create, status_of

Msg = ScheduledWhatsAppMessage
HTMX = {"HTTP_HX_REQUEST": "true"}

pytestmark = pytest.mark.django_db


def make_campaign(organization, session, groups, **kwargs) -> NotificationCampaign:
    return services.campaign_create(
        organization=organization,
        session=session,
        name="Tour news",
        message="New dates!",
        group_ids=[g.id for g in groups],
        **kwargs,
    )


def test_it_requires_login(client):
    response = client.get(reverse("campaigns:list"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_it_lists_only_the_organizations_campaigns(
    logged_in_client, organization, other_organization, gateway_session, groups
):
    make_campaign(organization, gateway_session, groups)
    stranger = factories.session_create(organization=other_organization)
    NotificationCampaign.objects.create(
        organization=other_organization, session=stranger, name="Secret plan", message="x"
    )

    response = logged_in_client.get(reverse("campaigns:list"))

    assert response.status_code == 200
    assert "Tour news" in response.text
    assert "Secret plan" not in response.text


def test_it_offers_groups_but_not_community_parents(
    logged_in_client, gateway_session, groups, community_parent
):
    response = logged_in_client.get(reverse("campaigns:new"))

    assert response.status_code == 200
    for group in groups:
        assert f'value="{group.id}"' in response.text
    assert community_parent.group_name in response.text
    assert f'value="{community_parent.id}"' not in response.text
    assert "community parent — cannot receive messages" in response.text


def test_it_reloads_the_group_picker_for_another_session(
    logged_in_client, organization, gateway_session, groups
):
    other = factories.session_create(organization=organization)

    response = logged_in_client.get(
        reverse("campaigns:group-picker"), {"session": str(other.id)}, **HTMX
    )

    assert response.status_code == 200
    assert "No groups stored for this session yet" in response.text
    assert "<html" not in response.text


def test_it_creates_a_campaign_from_the_form(logged_in_client, gateway_session, groups):
    response = logged_in_client.post(
        reverse("campaigns:new"),
        {
            "session": str(gateway_session.id),
            "name": "",
            "message": "Tickets on sale tomorrow\nSee you there",
            "group_ids": [str(g.id) for g in groups[:2]],
            "when": "now",
        },
    )

    campaign = NotificationCampaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:detail", args=[campaign.id])
    assert campaign.name == "Tickets on sale tomorrow"
    assert campaign.total_groups == 2


def test_it_refuses_a_community_parent_posted_anyway(
    logged_in_client, gateway_session, groups, community_parent
):
    response = logged_in_client.post(
        reverse("campaigns:new"),
        {
            "session": str(gateway_session.id),
            "message": "Hi",
            "group_ids": [str(community_parent.id)],
            "when": "now",
        },
    )

    assert response.status_code == 400
    assert "Community parent groups cannot receive messages" in response.text
    assert not NotificationCampaign.objects.exists()


def test_it_schedules_a_campaign_for_later(logged_in_client, gateway_session, groups):
    logged_in_client.post(
        reverse("campaigns:new"),
        {
            "session": str(gateway_session.id),
            "message": "Hi",
            "group_ids": [str(groups[0].id)],
            "when": "later",
            "scheduled_for": "2031-01-02T10:30",
        },
    )
    campaign = NotificationCampaign.objects.get()
    assert campaign.status == "scheduled"
    assert campaign.scheduled_for.year == 2031


def test_it_polls_progress_until_the_campaign_is_final(
    logged_in_client, organization, gateway_session, groups, gateway_sends
):
    campaign = make_campaign(organization, gateway_session, groups[:2])
    url = reverse("campaigns:progress", args=[campaign.id])

    running = logged_in_client.get(url, **HTMX)
    assert running.status_code == 200
    assert 'hx-trigger="every 1s"' in running.text
    assert "0 sent" in running.text

    queue.queue_process_once()
    done = logged_in_client.get(url, **HTMX)

    # Final, but sent moments ago: it keeps watching for late WhatsApp errors, slower.
    assert 'hx-trigger="every 3s"' in done.text
    assert "watching for late WhatsApp errors" in done.text
    assert "2 sent" in done.text
    assert "wamid.0001" in done.text

    NotificationCampaignGroup.objects.filter(campaign=campaign).update(
        sent_at=timezone.now() - timedelta(seconds=selectors.LATE_ERROR_WINDOW_SECONDS + 1)
    )
    # Past the late-error window, it still watches for delivery receipts, for a while.
    receipts = logged_in_client.get(url, **HTMX)
    assert 'data-watching="receipts"' in receipts.text
    assert "late WhatsApp errors" not in receipts.text

    NotificationCampaignGroup.objects.filter(campaign=campaign).update(
        sent_at=timezone.now() - timedelta(seconds=selectors.RECEIPT_WATCH_SECONDS + 1)
    )
    settled = logged_in_client.get(url, **HTMX)
    assert "hx-trigger" not in settled.text
    assert "watching" not in settled.text


def test_it_shows_failed_groups_with_their_error_and_retries_them(
    logged_in_client, organization, gateway_session, groups, gateway_sends
):
    gateway_sends.script = [(400, {"error": "Group not found"})]
    campaign = make_campaign(organization, gateway_session, groups[:2])
    queue.queue_process_once()

    page = logged_in_client.get(reverse("campaigns:detail", args=[campaign.id]))
    assert "Group not found" in page.text
    assert "Retry failed groups" in page.text
    assert "Partly failed" in page.text

    response = logged_in_client.post(reverse("campaigns:retry-failed", args=[campaign.id]), **HTMX)

    assert response.status_code == 200
    assert "1 failed group queued again." in response.headers["HX-Trigger"]
    assert 'hx-trigger="every 1s"' in response.text


def test_it_answers_404_for_another_organizations_campaign(
    client, other_user, organization, gateway_session, groups
):
    campaign = make_campaign(organization, gateway_session, groups[:1])
    client.force_login(other_user)
    assert client.get(reverse("campaigns:detail", args=[campaign.id])).status_code == 404
    assert client.post(reverse("campaigns:retry-failed", args=[campaign.id])).status_code == 404


def test_it_shows_the_queue_with_errors_and_filters_by_status(
    logged_in_client, gateway_session, gateway_sends
):
    gateway_sends.script = [(503, {"error": "Session not connected"})]
    waiting = message_create(session=gateway_session, recipient_jid="111@g.us")
    queue.queue_process_once()
    message_create(session=gateway_session, recipient_jid="222@g.us", scheduled_for=later())

    page = logged_in_client.get(reverse("campaigns:queue"))
    assert page.status_code == 200
    assert "111@g.us" in page.text and "222@g.us" in page.text
    assert "Session not connected" in page.text
    assert "gateway answer" in page.text  # vps_error
    waiting.refresh_from_db()
    assert waiting.retry_count == 1

    filtered = logged_in_client.get(reverse("campaigns:queue"), {"status": "sent"})
    assert "111@g.us" not in filtered.text


def test_it_runs_queue_actions(logged_in_client, gateway_session, gateway_sends):
    row = message_create(session=gateway_session, scheduled_for=later())
    url = reverse("campaigns:queue-action", args=[row.id, "cancel"])

    response = logged_in_client.post(url, {"status_filter": ""}, **HTMX)

    assert response.status_code == 200
    assert "Message cancelled." in response.headers["HX-Trigger"]
    assert status_of(row) == "cancelled"

    again = logged_in_client.post(url, **HTMX)
    assert "Only pending messages can be cancelled" in again.headers["HX-Trigger"]

    restore = reverse("campaigns:queue-action", args=[row.id, "restore"])
    logged_in_client.post(restore, **HTMX)
    assert status_of(row) == "pending"


def test_it_resolves_a_needs_review_row(logged_in_client, gateway_session):
    row = message_create(session=gateway_session)
    Msg.objects.filter(id=row.id).update(status="needs_review")

    response = logged_in_client.post(reverse("campaigns:queue-action", args=[row.id, "mark-sent"]))

    assert response.status_code == 302
    assert status_of(row) == "sent"


def test_it_queues_a_message_from_the_queue_page(logged_in_client, gateway_session):
    response = logged_in_client.post(
        reverse("campaigns:queue-create"),
        {
            "session": str(gateway_session.id),
            "recipient_jid": "120363025246125486@g.us",
            "message": "Hello",
            "when": "now",
        },
    )

    assert response.status_code == 302
    assert Msg.objects.get().recipient_jid == "120363025246125486@g.us"

    bad = logged_in_client.post(
        reverse("campaigns:queue-create"),
        {"session": str(gateway_session.id), "recipient_jid": "nobody", "message": "Hello"},
    )
    assert bad.status_code == 400
    assert "must be a WhatsApp JID" in bad.text


def test_it_polls_the_queue_fast_only_while_work_is_in_flight(logged_in_client, gateway_session):
    # The table never reloads on a timer: a tiny change poll does (test_queue_page.py measures it),
    # every 2 s while rows are in flight, every 10 s while the queue is quiet.
    empty = logged_in_client.get(reverse("campaigns:queue-table"), **HTMX)
    assert 'hx-trigger="every 2s"' not in empty.text
    assert 'id="queue-poll"' in empty.text and 'hx-trigger="every 10s"' in empty.text

    message_create(session=gateway_session)
    busy = logged_in_client.get(reverse("campaigns:queue-table"), **HTMX)
    assert busy.text.count("every ") == 1
    assert 'hx-trigger="every 2s"' in busy.text


def test_it_draws_each_rows_buttons_from_the_row_action_table(logged_in_client, gateway_session):
    rows = {}
    for status in ("pending", "failed", "needs_review", "sent"):
        rows[status] = message_create(session=gateway_session, scheduled_for=later())
        Msg.objects.filter(id=rows[status].id).update(status=status)

    html = logged_in_client.get(reverse("campaigns:queue-table"), **HTMX).text

    for status, row in rows.items():
        cell = html.split(f'id="row-{row.id}"')[1].split("</tr>")[0]
        buttons = row_buttons(status)
        assert cell.count("<button") == len(buttons)
        for button in buttons:
            assert reverse("campaigns:queue-action", args=[row.id, button.name]) in cell
            assert (f'hx-confirm="{button.confirm}"' in cell) == bool(button.confirm)
    assert [b.name for b in row_buttons("pending")] == ["send-now", "cancel"]
    assert [b.name for b in row_buttons("failed")] == ["retry"]
    assert [b.name for b in row_buttons("cancelled")] == ["restore"]
    assert [b.name for b in row_buttons("needs_review")] == ["mark-sent", "mark-failed"]


# --- bad input: a 400 with the form again, nothing written (Postgres answered 500) ------------


def written() -> tuple[int, int, int]:
    return (
        NotificationCampaign.objects.count(),
        NotificationCampaignGroup.objects.count(),
        Msg.objects.count(),
    )


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("group_ids", ["not-a-uuid"], "“not-a-uuid” is not a group id."),
        ("group_ids", [], "Pick at least one group."),
        ("name", "Tour\x00news", "The name contains a NUL character"),
        ("name", "n" * 201, "The name is too long: at most 200 characters (it has 201)."),
        ("message", "New\x00dates", "The message contains a NUL character"),
        ("message", "m" * 4097, "The message is too long: at most 4096 characters (it has 4097)."),
        ("session", "not-a-uuid", "Pick a WhatsApp session."),
        ("scheduled_for", "tomorrow", "The date and time are not valid."),
        ("scheduled_for", "", "Pick the date and time to send at."),
    ],
)
def test_it_refuses_bad_campaign_input_and_writes_nothing(
    logged_in_client, gateway_session, groups, field, value, error
):
    data = {
        "session": str(gateway_session.id),
        "name": "Tour news",
        "message": "New dates!",
        "group_ids": [str(groups[0].id)],
        "when": "later",
        "scheduled_for": "2031-01-02T10:30",
    }
    data[field] = value

    response = logged_in_client.post(reverse("campaigns:new"), data)

    assert response.status_code == 400
    assert error in response.text
    assert 'id="campaign-form"' in response.text  # the form again, as typed
    assert written() == (0, 0, 0)


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("message", "Hello\x00fans", "The message contains a NUL character"),
        ("message", "x" * 2_000_000, "at most 4096 characters (it has 2000000)."),
        ("message", "", "The message is empty."),
        ("recipient_jid", "1" * 96 + "@g.us", "at most 100 characters (it has 101)."),
        ("recipient_jid", "120363\x00@g.us", "The recipient contains a NUL character"),
        ("session", "not-a-uuid", "Pick a WhatsApp session."),
    ],
    ids=["nul-message", "2m-message", "empty-message", "long-jid", "nul-jid", "bad-session"],
)
def test_it_refuses_bad_queue_input_and_writes_nothing(
    logged_in_client, gateway_session, field, value, error
):
    data = {
        "session": str(gateway_session.id),
        "recipient_jid": "120363025246125486@g.us",
        "message": "Hello fans",
        "when": "now",
    }
    data[field] = value

    response = logged_in_client.post(reverse("campaigns:queue-create"), data)
    htmx = logged_in_client.post(reverse("campaigns:queue-create"), data, **HTMX)

    assert response.status_code == 400
    assert error in response.text
    assert htmx.status_code == 400
    toasts = json.loads(htmx.headers["HX-Trigger"])["showToast"]["toasts"]
    assert error in toasts[0]["message"] and toasts[0]["level"] == "error"
    assert written() == (0, 0, 0)


def test_it_answers_404_for_a_malformed_id_in_a_page_url(logged_in_client):
    assert logged_in_client.get("/campaigns/0000/").status_code == 404
    assert logged_in_client.post("/queue/not-a-uuid/cancel/").status_code == 404
