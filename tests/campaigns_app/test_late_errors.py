"""Late errors always land: a `message_error` that matches no recorded send (a timed-out send that
became needs_review without a message id) is shown on the row and blocks a silent "Mark sent";
`clientMessageId` in the event matches exactly."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
from django.urls import reverse
from django.utils import timezone

from campaigns_app import queue, selectors, services
from campaigns_app.models import NotificationCampaignGroup, ScheduledWhatsAppMessage
from campaigns_app.queue.errors import LATE_ERROR_MATCH_SECONDS
from tests import factories
from tests.campaigns_app.conftest import group_create, message_create, status_of
from tests.helpers import load_payload
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.models import WebhookEvent

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
GROUP = "120363025246125486@g.us"
REFUSAL = "Not allowed to send to a community parent group"


def timed_out_row(session, gateway_sends, recipient_jid: str = GROUP) -> ScheduledWhatsAppMessage:
    """A send whose answer never came: needs_review, no message id."""
    gateway_sends.script.append(requests.exceptions.ReadTimeout("timed out"))
    row = message_create(session=session, recipient_jid=recipient_jid)
    queue.queue_process_once()
    row.refresh_from_db()
    assert (row.status, row.message_id) == ("needs_review", "")
    return row


def report_error(client, session, *, event_id: str = "evt-late", **fields):
    payload = load_payload("message_error")
    payload.update(
        id=event_id, sessionId=session.session_id, messageId="3EB0UNKNOWN", groupJid=GROUP
    )
    payload.update(fields)
    return client.post(
        reverse("campaigns-api:webhook-message-error"),
        data=json.dumps(payload),
        content_type="application/json",
    )


def row_cell(client, row) -> str:
    html = client.get(reverse("campaigns:queue-table"), **HTMX).text
    return html.split(f'id="row-{row.id}"')[1].split("</tr>")[0]


def kept_event() -> WebhookEvent:
    return WebhookEvent.objects.get(source="message_error")


def shown_at() -> str:
    return f"{timezone.localtime(kept_event().received_at):%H:%M}"


def test_it_shows_an_unmatched_error_on_the_needs_review_row_of_that_group(
    logged_in_client, webhook_client, gateway_session, gateway_sends
):
    row = timed_out_row(gateway_session, gateway_sends)

    answer = report_error(webhook_client, gateway_session)

    assert answer.status_code == 202  # kept: its send is not recorded
    text = f"WhatsApp reported an error for this group at {shown_at()}: 420 {REFUSAL}"
    cell = row_cell(logged_in_client, row)
    assert "data-late-error" in cell and text in cell
    # "Mark sent" asks about it and sends the confirmation with it.
    assert f'hx-confirm="{text} Did the message arrive all the same? Mark sent anyway?"' in cell
    assert '"confirm": "1"' in cell


def test_mark_sent_is_refused_without_confirmation_then_applied_with_it(
    logged_in_client, webhook_client, gateway_session, gateway_sends
):
    row = timed_out_row(gateway_session, gateway_sends)
    report_error(webhook_client, gateway_session)
    url = reverse("campaigns:queue-action", args=[row.id, "mark-sent"])

    refused = logged_in_client.post(url, **HTMX)

    assert "WhatsApp reported an error for this group" in refused.headers["HX-Trigger"]
    assert status_of(row) == "needs_review"
    assert kept_event().outcome == "pending"

    logged_in_client.post(url, {"confirm": "1"}, **HTMX)

    row.refresh_from_db()
    assert row.status == "sent" and "Despite: WhatsApp reported an error" in row.error_message
    event = kept_event()
    assert event.outcome == "applied" and str(row.id) in event.detail


def test_mark_failed_records_the_reported_error_and_settles_it(
    webhook_client, gateway_session, gateway_sends
):
    row = timed_out_row(gateway_session, gateway_sends)
    report_error(webhook_client, gateway_session)

    services.scheduled_message_resolve(message=row, sent=False)

    row.refresh_from_db()
    assert row.status == "failed" and REFUSAL in row.error_message
    assert kept_event().outcome == "applied"
    assert selectors.queue_late_errors(rows=[row]) == {}


def test_the_admin_refuses_mark_sent_on_such_a_row(
    client, webhook_client, gateway_session, gateway_sends
):
    row = timed_out_row(gateway_session, gateway_sends)
    report_error(webhook_client, gateway_session)
    client.force_login(factories.user_create(username="root", is_staff=True, is_superuser=True))

    response = client.post(
        reverse("admin:campaigns_app_scheduledwhatsappmessage_changelist"),
        {"action": "mark_sent", "_selected_action": [str(row.id)]},
        follow=True,
    )

    assert "WhatsApp reported an error for this group" in response.text
    assert status_of(row) == "needs_review"


def test_the_service_refuses_mark_sent_unless_confirmed(
    webhook_client, gateway_session, gateway_sends
):
    row = timed_out_row(gateway_session, gateway_sends)
    report_error(webhook_client, gateway_session)

    with pytest.raises(ApplicationError) as refused:
        services.scheduled_message_resolve(message=row, sent=True)

    assert refused.value.details["confirm"] == "1"
    assert status_of(row) == "needs_review"
    services.scheduled_message_resolve(message=row, sent=True, confirmed=True)
    assert status_of(row) == "sent"


@pytest.mark.parametrize("differs", ["group", "session", "too_late", "other_client_id"])
def test_it_does_not_pin_an_error_on_a_row_it_is_not_about(
    logged_in_client, webhook_client, organization, gateway_session, gateway_sends, differs
):
    row = timed_out_row(gateway_session, gateway_sends)
    other_session = factories.session_create(organization=organization)
    fields = {
        "group": {"groupJid": "120363099999999999@g.us"},
        "session": {"sessionId": other_session.session_id},
        "too_late": {},
        "other_client_id": {"clientMessageId": "6f1c7a52-0a7e-4a59-9f3e-2f7f0c3a8d11"},
    }[differs]
    report_error(webhook_client, gateway_session, **fields)
    if differs == "too_late":
        ScheduledWhatsAppMessage.objects.filter(id=row.id).update(
            call_started_at=timezone.now() - timedelta(seconds=LATE_ERROR_MATCH_SECONDS + 60)
        )
        row.refresh_from_db()

    assert selectors.queue_late_errors(rows=[row]) == {}
    assert "data-late-error" not in row_cell(logged_in_client, row)
    services.scheduled_message_resolve(message=row, sent=True)  # no question asked
    assert status_of(row) == "sent"


def test_a_client_message_id_matches_a_needs_review_row_exactly(
    webhook_client, organization, gateway_session, gateway_sends
):
    group = group_create(organization=organization, session=gateway_session, group_jid=GROUP)
    campaign = services.campaign_create(
        organization=organization, session=gateway_session, message="Hi", group_ids=[group.id]
    )
    gateway_sends.script.append(requests.exceptions.ReadTimeout("timed out"))
    queue.queue_process_once()
    row = ScheduledWhatsAppMessage.objects.get(campaign_group__campaign=campaign)
    assert row.status == "needs_review"

    answer = report_error(
        webhook_client,
        gateway_session,
        clientMessageId=str(row.client_message_id),
        groupJid="",  # the id alone is enough
    )

    assert answer.status_code == 200
    assert answer.json()["matched"] is True and answer.json()["changed"] is True
    row.refresh_from_db()
    assert row.status == "failed" and REFUSAL in row.error_message
    group_row = NotificationCampaignGroup.objects.get(id=row.campaign_group_id)
    assert group_row.status == "failed"
    assert campaign.__class__.objects.get(id=campaign.id).status == "failed"


def test_a_client_message_id_of_a_send_under_way_is_kept_and_shown_once_it_needs_review(
    logged_in_client, webhook_client, gateway_session, gateway_sends
):
    row = message_create(session=gateway_session, recipient_jid=GROUP)
    claim = queue.queue_claim()
    answer = report_error(
        webhook_client,
        gateway_session,
        clientMessageId=str(row.client_message_id),
        groupJid="120363011111111111@g.us",  # a gateway reporting another JID form
    )
    assert answer.status_code == 202
    assert status_of(row) == "sending"

    gateway_sends.script.append(requests.exceptions.ReadTimeout("timed out"))
    queue.queue_send_claimed(token=claim.token, row_ids=claim.row_ids)

    assert status_of(row) == "needs_review"
    late = selectors.queue_late_errors(rows=[row])[row.id]
    assert late.exact and REFUSAL in late.text
    assert "data-late-error" in row_cell(logged_in_client, row)


def test_a_client_message_id_still_matches_a_recorded_send(
    webhook_client, gateway_session, gateway_sends
):
    row = message_create(session=gateway_session, recipient_jid=GROUP)
    queue.queue_process_once()
    row.refresh_from_db()

    answer = report_error(
        webhook_client,
        gateway_session,
        clientMessageId=str(row.client_message_id),
        messageId="a-gateway-id-we-never-saw",
    )

    assert answer.status_code == 200 and answer.json()["changed"] is True
    assert status_of(row) == "failed"


def test_a_malformed_client_message_id_falls_back_to_the_message_id(
    webhook_client, gateway_session, gateway_sends
):
    row = message_create(session=gateway_session, recipient_jid=GROUP)
    queue.queue_process_once()
    row.refresh_from_db()

    answer = report_error(
        webhook_client, gateway_session, clientMessageId="not-a-uuid", messageId=row.message_id
    )

    assert answer.status_code == 200
    assert status_of(row) == "failed"


def test_an_over_long_client_message_id_is_a_400_and_nothing_is_kept(
    webhook_client, gateway_session, gateway_sends
):
    row = message_create(session=gateway_session, recipient_jid=GROUP)
    queue.queue_process_once()
    row.refresh_from_db()
    kept_before = WebhookEvent.objects.filter(outcome__in=["applied", "pending"]).count()

    answer = report_error(
        webhook_client, gateway_session, clientMessageId="x" * 101, messageId=row.message_id
    )

    assert answer.status_code == 400
    assert status_of(row) == "sent"
    assert WebhookEvent.objects.filter(outcome__in=["applied", "pending"]).count() == kept_before
