"""WAHA's and Evolution API's receipts and group participant events (INTERFACE §7, §8, §9): a
delivered and a read receipt counted on the queue row, a receipt of a send not recorded yet kept
pending (202), a participant add visible as an artist member row."""

from __future__ import annotations

import pytest

from artists_app.models import Artist, ArtistWhatsAppGroupMember
from campaigns_app.models import ScheduledWhatsAppMessage
from tests.gateways_app.conftest import signed
from tests.gateways_app.test_receivers import (
    EVOLUTION_ERROR_ID,
    GROUP,
    evolution_event,
    evolution_url,
    sent_row,
    session_on,
    waha_event,
    waha_url,
)
from whatsapp_crm.models import WebhookEvent

pytestmark = pytest.mark.django_db

WAHA_ID = "3EB0C767D26A1D6E5A9C"  # the id in webhook_message_ack_group_read.json
MEMBER_A, MEMBER_B = "4915111111111", "4915122222222"
NEW_MEMBER = "4917633333333"


def waha_receipt(session_id: str, ack: int, ack_name: str, member: str, event_id: str) -> dict:
    event = waha_event("webhook_message_ack_group_read", session_id, id=event_id)
    event["payload"] |= {
        "id": f"true_{GROUP}_{WAHA_ID}_{member}@c.us",
        "participant": f"{member}@c.us",
        "ack": ack,
        "ackName": ack_name,
    }
    return event


def evolution_receipt(instance: str, status: str, member: str) -> dict:
    event = evolution_event("webhook_messages_update_read", instance)
    event["data"] |= {
        "keyId": EVOLUTION_ERROR_ID,
        "participant": f"{member}@s.whatsapp.net",
        "status": status,
    }
    return event


def counts(row: ScheduledWhatsAppMessage) -> tuple[int, int]:
    row.refresh_from_db()
    return row.delivered_count, row.read_count


def test_waha_delivered_and_read_receipts_are_counted(client, organization, waha_gateway):
    session = session_on(organization, waha_gateway, status="connected")
    row = sent_row(session, WAHA_ID)
    secret = waha_gateway.webhook_secret
    url = waha_url(waha_gateway)

    def post(body):
        return client.post(url, **signed(body, key=secret, secret=secret))

    delivered_a = post(waha_receipt(session.session_id, 2, "DEVICE", MEMBER_A, "evt_1"))
    delivered_b = post(waha_receipt(session.session_id, 2, "DEVICE", MEMBER_B, "evt_2"))
    read_a = post(waha_receipt(session.session_id, 3, "READ", MEMBER_A, "evt_3"))
    server = post(waha_receipt(session.session_id, 1, "SERVER", MEMBER_A, "evt_4"))

    assert delivered_a.status_code == 200, delivered_a.content
    assert delivered_b.json()["delivered_count"] == 2
    assert read_a.json() | {"scheduled_message_id": None} == {
        "success": True,
        "matched": True,
        "changed": True,
        "scheduled_message_id": None,
        "delivered_count": 2,
        "read_count": 1,
    }
    assert server.json()["ignored"] is True
    assert counts(row) == (2, 1)
    row.refresh_from_db()
    assert row.status == "sent" and row.read_at is not None


def test_the_recorded_waha_group_read_receipt_is_counted(client, organization, waha_gateway):
    session = session_on(organization, waha_gateway, status="connected")
    row = sent_row(session, WAHA_ID)
    secret = waha_gateway.webhook_secret
    body = waha_event("webhook_message_ack_group_read", session.session_id)

    response = client.post(waha_url(waha_gateway), **signed(body, key=secret, secret=secret))

    assert response.status_code == 200, response.content
    assert response.json()["read_count"] == 1
    assert counts(row)[1] == 1


def test_evolution_delivered_and_read_receipts_are_counted(client, organization, evolution_gateway):
    session = session_on(organization, evolution_gateway, status="connected")
    row = sent_row(session, EVOLUTION_ERROR_ID)
    secret = evolution_gateway.webhook_secret
    url = evolution_url(evolution_gateway)

    def post(body):
        return client.post(url, **signed(body, key=secret))

    responses = [
        post(evolution_receipt(session.session_id, "DELIVERY_ACK", MEMBER_A)),
        post(evolution_receipt(session.session_id, "DELIVERY_ACK", MEMBER_B)),
        post(evolution_receipt(session.session_id, "READ", MEMBER_B)),
        post(evolution_receipt(session.session_id, "SERVER_ACK", MEMBER_B)),
    ]

    assert [r.status_code for r in responses] == [200, 200, 200, 200]
    assert responses[2].json()["read_count"] == 1
    assert responses[3].json()["ignored"] is True
    assert counts(row) == (2, 1)


def test_a_receipt_before_the_send_is_recorded_is_kept_pending(
    client, organization, evolution_gateway
):
    session = session_on(organization, evolution_gateway, status="connected")
    secret = evolution_gateway.webhook_secret
    body = evolution_receipt(session.session_id, "DELIVERY_ACK", MEMBER_A)

    response = client.post(evolution_url(evolution_gateway), **signed(body, key=secret))

    assert response.status_code == 202, response.content
    assert response.json() == {"success": True, "matched": False}
    event = WebhookEvent.objects.get(source="evolution")
    assert (event.outcome, event.reference, event.session_id) == (
        "pending",
        EVOLUTION_ERROR_ID,
        session.session_id,
    )


def artist_with_group(organization) -> Artist:
    return Artist.objects.create(
        organization=organization, name="Mira Sol", whatsapp_group_id=GROUP.removesuffix("@g.us")
    )


def test_a_waha_participant_join_adds_an_artist_member(client, organization, waha_gateway):
    session = session_on(organization, waha_gateway, status="connected")
    artist = artist_with_group(organization)
    secret = waha_gateway.webhook_secret
    body = waha_event("webhook_session_status_working", session.session_id, id="evt_join")
    body |= {
        "event": "group.v2.participants",
        "payload": {
            "type": "join",
            "timestamp": 1764612300,
            "group": {"id": GROUP},
            "participants": [{"id": f"{NEW_MEMBER}@c.us", "role": "participant"}],
        },
    }

    response = client.post(waha_url(waha_gateway), **signed(body, key=secret, secret=secret))

    assert response.status_code == 200, response.content
    assert response.json() == {
        "success": True,
        "artists": 1,
        "added": 1,
        "updated": 0,
        "removed": 0,
    }
    member = ArtistWhatsAppGroupMember.objects.get(artist=artist)
    assert (member.member_phone, member.member_rank) == (NEW_MEMBER, "member")


def test_an_evolution_participant_add_adds_an_artist_member(
    client, organization, evolution_gateway
):
    session = session_on(organization, evolution_gateway, status="connected")
    artist = artist_with_group(organization)
    secret = evolution_gateway.webhook_secret
    body = evolution_event("webhook_connection_update_open", session.session_id)
    body |= {
        "event": "group-participants.update",
        "data": {
            "id": GROUP,
            "action": "add",
            "participants": ["99999999999999@lid"],
            "participantsData": [
                {"jid": "99999999999999@lid", "phoneNumber": f"{NEW_MEMBER}@s.whatsapp.net"}
            ],
        },
    }

    response = client.post(evolution_url(evolution_gateway), **signed(body, key=secret))

    assert response.status_code == 200, response.content
    assert response.json()["added"] == 1
    member = ArtistWhatsAppGroupMember.objects.get(artist=artist)
    assert member.member_phone == NEW_MEMBER


@pytest.mark.parametrize(
    "data",
    [
        {"id": "not-a-group", "action": "add", "participants": ["4915@c.us"]},
        {"id": GROUP, "action": "add", "participants": []},
        {"id": GROUP, "action": "add", "participants": "4915@c.us"},
    ],
    ids=["no-group", "empty", "not-a-list"],
)
def test_an_unreadable_evolution_participant_event_is_400(
    client, organization, evolution_gateway, data
):
    session = session_on(organization, evolution_gateway, status="connected")
    artist_with_group(organization)
    secret = evolution_gateway.webhook_secret
    body = evolution_event("webhook_connection_update_open", session.session_id)
    body |= {"event": "group-participants.update", "data": data}

    response = client.post(evolution_url(evolution_gateway), **signed(body, key=secret))

    assert response.status_code == 400, response.content
    assert not ArtistWhatsAppGroupMember.objects.exists()


def _lookup(organization, phone: str) -> list[tuple[str, str]]:
    from artists_app.selectors import artist_lookup_by_phone

    found = artist_lookup_by_phone(organization=organization, phone=phone)
    return [(m.name, m.member_rank) for m in found.matches]


def test_every_waha_participant_action_reaches_the_lookup(client, organization, waha_gateway):
    session = session_on(organization, waha_gateway, status="connected")
    artist_with_group(organization)
    secret = waha_gateway.webhook_secret

    def post(kind: str, role: str) -> None:
        body = waha_event("webhook_session_status_working", session.session_id, id=f"evt_{kind}")
        body |= {
            "event": "group.v2.participants",
            "payload": {
                "type": kind,
                "timestamp": 1764612300,
                "group": {"id": GROUP},
                "participants": [{"id": f"{NEW_MEMBER}@c.us", "role": role}],
            },
        }
        response = client.post(waha_url(waha_gateway), **signed(body, key=secret, secret=secret))
        assert response.status_code == 200, response.content

    post("join", "participant")
    assert _lookup(organization, f"+{NEW_MEMBER}") == [("Mira Sol", "member")]
    post("promote", "admin")
    assert _lookup(organization, f"+{NEW_MEMBER}") == [("Mira Sol", "admin")]
    post("demote", "participant")
    assert _lookup(organization, f"+{NEW_MEMBER}") == [("Mira Sol", "member")]
    post("leave", "left")
    assert _lookup(organization, f"+{NEW_MEMBER}") == []


def test_every_evolution_participant_action_reaches_the_lookup(
    client, organization, evolution_gateway
):
    session = session_on(organization, evolution_gateway, status="connected")
    artist_with_group(organization)
    secret = evolution_gateway.webhook_secret

    def post(action: str) -> None:
        body = evolution_event("webhook_connection_update_open", session.session_id)
        body |= {
            "event": "group-participants.update",
            "data": {
                "id": GROUP,
                "action": action,
                "participants": [f"{NEW_MEMBER}@s.whatsapp.net"],
            },
        }
        response = client.post(evolution_url(evolution_gateway), **signed(body, key=secret))
        assert response.status_code == 200, response.content

    post("add")
    assert _lookup(organization, f"+{NEW_MEMBER}") == [("Mira Sol", "member")]
    post("promote")
    assert _lookup(organization, f"+{NEW_MEMBER}") == [("Mira Sol", "admin")]
    post("demote")
    assert _lookup(organization, f"+{NEW_MEMBER}") == [("Mira Sol", "member")]
    post("remove")
    assert _lookup(organization, f"+{NEW_MEMBER}") == []
