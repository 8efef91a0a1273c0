"""The queue page (issue 14): pages of 25/50 rows, search by message text and group name,
recipients by group name, the group picker in the schedule form, long errors folded, dates on
times, and a change poll that costs next to nothing while the queue is quiet."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns_app import services
from campaigns_app.models import ScheduledWhatsAppMessage
from tests.campaigns_app.conftest import group_create, later, message_create

Msg = ScheduledWhatsAppMessage
HTMX = {"HTTP_HX_REQUEST": "true"}
pytestmark = pytest.mark.django_db


def _rows(html: str) -> int:
    return html.count('<tr id="row-')


def _bulk_rows(session, n: int, **fields) -> None:
    now = timezone.now()
    Msg.objects.bulk_create(
        [
            Msg(
                organization=session.organization,
                session=session,
                recipient_jid=f"1203630000000{i:05d}@g.us",
                message=fields.get("message", f"Message number {i}"),
                scheduled_for=later(),
                next_attempt_at=later(),
                status=fields.get("status", "sent"),
                sent_at=now if fields.get("status", "sent") == "sent" else None,
                created_at=now - timezone.timedelta(seconds=n - i),
                updated_at=now,
            )
            for i in range(n)
        ]
    )


def test_it_shows_the_queue_in_pages_of_25_or_50(logged_in_client, gateway_session):
    _bulk_rows(gateway_session, 60)
    first = logged_in_client.get(reverse("campaigns:queue")).text
    assert _rows(first) == 25
    assert "1–25 of 60 messages · page 1 of 3" in first
    assert 'href="/queue/?page=2" rel="next"' in first
    # Newest first.
    assert "120363000000000059@g.us" in first and "120363000000000001@g.us" not in first

    last = logged_in_client.get(reverse("campaigns:queue"), {"page": "3"}).text
    assert _rows(last) == 10
    assert "51–60 of 60" in last
    assert 'rel="prev"' in last and 'rel="next"' not in last

    fifty = logged_in_client.get(reverse("campaigns:queue"), {"per_page": "50"}).text
    assert _rows(fifty) == 50
    for bad in ({"page": "nope"}, {"page": "-3"}, {"per_page": "100000"}, {"page": "999"}):
        response = logged_in_client.get(reverse("campaigns:queue"), bad)
        assert response.status_code == 200
        assert _rows(response.text) in (25, 10)


def test_it_searches_by_message_text_and_group_name(
    logged_in_client, organization, gateway_session
):
    berlin = group_create(
        organization=organization, session=gateway_session, group_name="Berlin Crew"
    )
    group_create(organization=organization, session=gateway_session, group_name="Hamburg Fans")
    to_berlin = message_create(
        session=gateway_session, recipient_jid=berlin.group_jid, message="Soundcheck at 5"
    )
    other = message_create(session=gateway_session, message="Tickets are out")

    by_group = logged_in_client.get(reverse("campaigns:queue"), {"q": "berlin"}).text
    assert f"row-{to_berlin.id}" in by_group and f"row-{other.id}" not in by_group
    by_text = logged_in_client.get(reverse("campaigns:queue"), {"q": "TICKETS"}).text
    assert f"row-{other.id}" in by_text and f"row-{to_berlin.id}" not in by_text
    by_jid = logged_in_client.get(reverse("campaigns:queue"), {"q": berlin.group_jid[:12]}).text
    assert f"row-{to_berlin.id}" in by_jid
    none = logged_in_client.get(reverse("campaigns:queue"), {"q": "nothing like it"}).text
    assert "No message matches “nothing like it”." in none
    nul = logged_in_client.get(reverse("campaigns:queue"), {"q": "a\x00b"})
    assert nul.status_code == 200


def test_it_shows_recipients_by_group_name_with_the_jid(
    logged_in_client, organization, gateway_session
):
    group = group_create(
        organization=organization, session=gateway_session, group_name="Berlin Crew"
    )
    row = message_create(session=gateway_session, recipient_jid=group.group_jid)
    person = message_create(session=gateway_session, recipient_jid="4915123456789@s.whatsapp.net")
    html = logged_in_client.get(reverse("campaigns:queue")).text
    cell = html.split(f'id="row-{row.id}"')[1].split("</td>")[0]
    assert f'<strong title="{group.group_jid}" data-recipient-name>Berlin Crew</strong>' in cell
    assert group.group_jid in cell
    person_cell = html.split(f'id="row-{person.id}"')[1].split("</td>")[0]
    assert "data-recipient-jid>4915123456789@s.whatsapp.net" in person_cell


def test_the_schedule_form_picks_a_group_instead_of_typing_its_jid(
    logged_in_client, organization, gateway_session
):
    group = group_create(
        organization=organization, session=gateway_session, group_name="Berlin Crew"
    )
    page = logged_in_client.get(reverse("campaigns:queue")).text
    assert f'name="recipient_group" value="{group.group_jid}" data-fill="#recipient-jid"' in page
    assert "data-picker-search" in page

    response = logged_in_client.post(
        reverse("campaigns:queue-create"),
        {
            "session": str(gateway_session.id),
            "recipient_jid": "",
            "recipient_group": group.group_jid,
            "message": "Hello crew",
            "when": "now",
        },
    )
    assert response.status_code == 302
    assert Msg.objects.get().recipient_jid == group.group_jid


def test_long_errors_are_folded_and_times_have_dates(logged_in_client, gateway_session):
    row = message_create(session=gateway_session)
    long_error = "The gateway said no. " * 20
    Msg.objects.filter(id=row.id).update(status="failed", error_message=long_error)
    sent = message_create(session=gateway_session)
    sent_at = timezone.now()
    Msg.objects.filter(id=sent.id).update(status="sent", sent_at=sent_at)

    html = logged_in_client.get(reverse("campaigns:queue")).text
    cell = html.split(f'id="row-{row.id}"')[1].split("</tr>")[0]
    assert "<details" in cell and "data-error-long" in cell
    assert long_error.strip() in cell  # the whole error, behind the summary
    assert f"sent {timezone.localtime(sent_at):%Y-%m-%d %H:%M:%S}" in html


def test_row_actions_keep_the_search_and_the_page(logged_in_client, gateway_session):
    row = message_create(session=gateway_session, scheduled_for=later(), message="Find me")
    message_create(session=gateway_session, scheduled_for=later(), message="Other")
    url = reverse("campaigns:queue-action", args=[row.id, "cancel"]) + "?q=find"
    response = logged_in_client.post(url, **HTMX)
    assert response.status_code == 200
    assert _rows(response.text) == 1
    assert 'value="find"' in response.text
    assert row.__class__.objects.get(id=row.id).status == "cancelled"


# --- the change poll ---------------------------------------------------------------------------


def _wire_bytes(response) -> int:
    """What the poll costs on the wire: status line, headers and body."""
    headers = "".join(f"{k}: {v}\r\n" for k, v in response.items())
    return len("HTTP/1.1 204 No Content\r\n") + len(headers.encode()) + len(response.content)


def test_a_quiet_poll_is_tiny(logged_in_client, gateway_session):
    _bulk_rows(gateway_session, 200)  # the old table reloaded all 200 (187 KB) every 2 s
    table = logged_in_client.get(reverse("campaigns:queue-table"), **HTMX)
    fingerprint = table.text.split("/queue/poll/?v=")[1].split('"')[0]

    quiet = logged_in_client.get(reverse("campaigns:queue-poll"), {"v": fingerprint}, **HTMX)
    assert quiet.status_code == 204
    assert quiet.content == b""
    assert "HX-Trigger" not in quiet.headers
    assert _wire_bytes(quiet) < 5_000
    assert _wire_bytes(quiet) < 2_000  # in fact: the security headers, no body
    # A page of the table (fetched only after a change) is far below the old 187 KB.
    assert len(table.content) < 60_000


def test_the_poll_tells_the_table_to_reload_after_a_change(logged_in_client, gateway_session):
    row = message_create(session=gateway_session, scheduled_for=later())
    table = logged_in_client.get(reverse("campaigns:queue-table"), **HTMX).text
    fingerprint = table.split("/queue/poll/?v=")[1].split('"')[0]
    assert 'hx-trigger="queueChanged from:body"' in table

    services.scheduled_message_cancel(message=row)
    changed = logged_in_client.get(reverse("campaigns:queue-poll"), {"v": fingerprint}, **HTMX)
    assert changed.status_code == 204
    assert "queueChanged" in changed.headers["HX-Trigger"]

    message_create(session=gateway_session)  # a new row changes it too
    new_table = logged_in_client.get(reverse("campaigns:queue-table"), **HTMX).text
    new_fingerprint = new_table.split("/queue/poll/?v=")[1].split('"')[0]
    assert new_fingerprint != fingerprint


def test_the_poll_is_scoped_to_the_organization(client, other_user, gateway_session):
    client.force_login(other_user)
    other_table = client.get(reverse("campaigns:queue-table"), **HTMX).text
    other_fp = other_table.split("/queue/poll/?v=")[1].split('"')[0]
    message_create(session=gateway_session)  # a change in another organization's queue
    quiet = client.get(reverse("campaigns:queue-poll"), {"v": other_fp}, **HTMX)
    assert quiet.status_code == 204
    assert "HX-Trigger" not in quiet.headers


def test_a_sent_row_shows_its_receipts_and_a_receipt_moves_the_poll(
    logged_in_client, gateway_session
):
    from campaigns_app import queue

    row = message_create(session=gateway_session)
    ScheduledWhatsAppMessage.objects.filter(pk=row.pk).update(
        status="sent", message_id="wamid.receipts", sent_at=timezone.now()
    )
    table = logged_in_client.get(reverse("campaigns:queue-table"), **HTMX).text
    assert "delivered 0 · read 0" in table
    fingerprint = table.split("/queue/poll/?v=")[1].split('"')[0]

    for participant, status in [("4915100000001", "delivered"), ("4915100000002", "read")]:
        outcome = queue.receipt_record(
            session_key=gateway_session.session_id,
            message_id="wamid.receipts",
            participant=participant,
            status=status,
        )
        assert outcome.kind == "applied"

    poll = logged_in_client.get(reverse("campaigns:queue-poll"), {"v": fingerprint}, **HTMX)
    assert "queueChanged" in poll.headers["HX-Trigger"]  # the open page reloads its table
    table = logged_in_client.get(reverse("campaigns:queue-table"), **HTMX).text
    assert "delivered 2 · read 1" in table  # read implies delivered
    assert "first read" in table
