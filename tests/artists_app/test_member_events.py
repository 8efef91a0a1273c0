"""Live member cache (INTERFACE §9): POST /api/webhooks/whatsapp/group-participants/ and
members_apply_participant_event, seen through the phone lookup."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from artists_app import selectors
from artists_app.member_events import members_apply_participant_event
from artists_app.models import Artist, ArtistWhatsAppGroupMember
from tests import factories
from tests.artists_app.conftest import artist_make, members_of
from whatsapp_crm.models import WebhookEvent

pytestmark = pytest.mark.django_db

GROUP = "120363000000000101"


def url() -> str:
    return reverse("artists-api:webhook-group-participants")


def event(session, action: str, participants: list, **extra) -> dict:
    return {
        "event": "group_participants",
        "id": extra.pop("id", f"evt-{action}-{json.dumps(participants)}"),
        "sessionId": session.session_id,
        "groupJid": f"{GROUP}@g.us",
        "action": action,
        "participants": participants,
        **extra,
    }


def post(client, payload):
    return client.post(url(), data=json.dumps(payload), content_type="application/json")


def lookup(organization, phone: str) -> list[tuple[str, str]]:
    result = selectors.artist_lookup_by_phone(organization=organization, phone=phone)
    return [(m.name, m.member_rank) for m in result.matches]


@pytest.fixture
def session(organization):
    return factories.session_create(organization=organization)


def test_add_promote_demote_remove_are_visible_in_the_lookup_at_once(
    webhook_client, organization, session
):
    artist = artist_make(organization, group_id=GROUP)
    phone = "+49 151 23456789"

    response = post(webhook_client, event(session, "add", ["4915123456789@s.whatsapp.net"]))
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "artists": 1,
        "added": 1,
        "updated": 0,
        "removed": 0,
    }
    assert lookup(organization, phone) == [("Mira Sol", "member")]

    post(webhook_client, event(session, "promote", ["4915123456789"]))
    assert lookup(organization, phone) == [("Mira Sol", "admin")]

    post(webhook_client, event(session, "demote", ["4915123456789@c.us"]))
    assert lookup(organization, phone) == [("Mira Sol", "member")]

    post(webhook_client, event(session, "remove", ["4915123456789"]))
    assert lookup(organization, phone) == []

    artist.refresh_from_db()
    assert artist.members_live_changed_at is not None
    assert selectors.artist_member_live_change(artist=artist) == "last change just now (live)"
    assert WebhookEvent.objects.filter(source="group_participants", outcome="applied").count() == 4


def test_it_changes_every_artist_of_the_organization_with_that_group_only(
    webhook_client, organization, other_organization, session
):
    first = artist_make(organization, "Mira Sol", GROUP)
    second = artist_make(organization, "Mira Sol (tour crew)", GROUP)
    archived = artist_make(organization, "Old Mira", GROUP)
    Artist.objects.filter(pk=archived.pk).update(archived_at=timezone.now())
    elsewhere = artist_make(organization, "Other band", "120363000000000999")
    foreign = artist_make(other_organization, "Foreign", GROUP)

    response = post(webhook_client, event(session, "add", ["4915123456789", "4917612345678"]))

    assert response.json()["artists"] == 2
    assert response.json()["added"] == 4
    for artist in (first, second):
        assert {m[0] for m in members_of(artist)} == {"4915123456789", "4917612345678"}
        assert all(m[3] == GROUP for m in members_of(artist))
    for artist in (archived, elsewhere, foreign):
        assert members_of(artist) == []


def test_a_privacy_id_is_kept_unmatched_and_resolved_when_its_number_comes(
    webhook_client, organization, session
):
    artist = artist_make(organization, group_id=GROUP)

    post(webhook_client, event(session, "add", ["123456789012345@lid"]))
    assert [(m[0], m[1]) for m in members_of(artist)] == [(None, "123456789012345@lid")]
    assert lookup(organization, "+4915123456789") == []

    # A later event names its number (WAHA's pn, Evolution's phoneNumber): resolved, one row.
    post(
        webhook_client,
        event(session, "promote", [{"id": "123456789012345@lid", "phone": "4915123456789"}]),
    )
    assert [(m[0], m[1], m[2]) for m in members_of(artist)] == [
        ("4915123456789", "123456789012345@lid", "admin")
    ]
    assert lookup(organization, "+4915123456789") == [("Mira Sol", "admin")]

    # Removed by its privacy id alone.
    post(webhook_client, event(session, "remove", ["123456789012345@lid"]))
    assert members_of(artist) == []


def test_a_privacy_id_and_the_row_of_its_number_are_merged(organization, session):
    artist = artist_make(organization, group_id=GROUP)
    members_apply_participant_event(
        session=session, group_jid=GROUP, action="add", participants=["4915123456789"]
    )
    members_apply_participant_event(
        session=session, group_jid=GROUP, action="add", participants=["99887766@lid"]
    )
    assert len(members_of(artist)) == 2

    outcome = members_apply_participant_event(
        session=session,
        group_jid=f"{GROUP}@g.us",
        action="promote",
        participants=[{"id": "99887766@lid", "pn": "4915123456789@c.us"}],
    )

    assert outcome.updated == 1
    assert [(m[0], m[2]) for m in members_of(artist)] == [("4915123456789", "admin")]


def test_an_add_keeps_the_rank_of_a_cached_member_and_promote_keeps_the_creator(
    organization, session
):
    artist = artist_make(organization, group_id=GROUP)
    ArtistWhatsAppGroupMember.objects.create(
        artist=artist,
        whatsapp_group_id=GROUP,
        member_phone="4915123456789",
        member_wa_id="4915123456789",
        member_rank="creator",
        last_synced_at=timezone.now(),
    )
    for action in ("add", "promote"):
        members_apply_participant_event(
            session=session, group_jid=GROUP, action=action, participants=["4915123456789"]
        )
        assert members_of(artist)[0][2] == "creator"
    members_apply_participant_event(
        session=session, group_jid=GROUP, action="demote", participants=["4915123456789"]
    )
    assert members_of(artist)[0][2] == "member"


def test_a_replay_is_a_duplicate(webhook_client, organization, session):
    artist = artist_make(organization, group_id=GROUP)
    payload = event(session, "add", ["4915123456789"])
    assert post(webhook_client, payload).status_code == 200
    post(webhook_client, event(session, "remove", ["4915123456789"]))

    replay = post(webhook_client, payload)

    assert replay.json() == {"success": True, "duplicate": True}
    assert members_of(artist) == []


def test_it_refuses_bad_input_and_changes_nothing(webhook_client, organization, session):
    artist = artist_make(organization, group_id=GROUP)
    bad = [
        event(session, "kick", ["4915123456789"]),
        event(session, "add", []),
        event(session, "add", "4915123456789"),
        event(session, "add", [{"id": 5}]),
        event(session, "add", [{"id": "4915", "role": "x"}]),
        event(session, "add", ["x" * 101]),
        {**event(session, "add", ["4915123456789"]), "groupJid": None},
    ]
    for payload in bad:
        response = post(webhook_client, payload)
        assert response.status_code == 400, payload
        assert response.json()["success"] is False
    unknown = post(webhook_client, event(session, "add", ["4915123456789"], sessionId="nobody"))
    assert unknown.status_code == 404
    assert post(APIClient(), event(session, "add", ["4915123456789"])).status_code == 401
    assert members_of(artist) == []


def test_the_artists_page_says_when_members_changed_live(
    webhook_client, logged_in_client, organization, session
):
    artist = artist_make(organization, "Mira Sol", GROUP)
    Artist.objects.filter(pk=artist.pk).update(last_member_sync_at=timezone.now())
    page = logged_in_client.get(reverse("artists:page")).content.decode()
    assert "(live)" not in page  # nothing changed since the full sync

    post(webhook_client, event(session, "add", ["4915123456789"]))
    page = logged_in_client.get(reverse("artists:page")).content.decode()
    assert "last change just now (live)" in page


def test_joins_and_leaves_move_the_sessions_member_count_of_the_group(
    webhook_client, organization, session
):
    from groups_app.models import WhatsAppGroup

    other = factories.session_create(organization=organization)
    mine = WhatsAppGroup.objects.create(
        organization=organization, session=session, group_jid=f"{GROUP}@g.us", participant_count=40
    )
    theirs = WhatsAppGroup.objects.create(
        organization=organization, session=other, group_jid=f"{GROUP}@g.us", participant_count=40
    )

    post(webhook_client, event(session, "add", ["4915123456789", "4915123456790"]))
    post(webhook_client, event(session, "promote", ["4915123456789"]))
    post(webhook_client, event(session, "remove", ["4915123456790"]))

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.participant_count == 41  # +2 −1; a promotion is no join
    assert theirs.participant_count == 40  # that session reports its own events

    WhatsAppGroup.objects.filter(pk=mine.pk).update(participant_count=0)
    post(webhook_client, event(session, "remove", ["4915123456789"]))
    mine.refresh_from_db()
    assert mine.participant_count == 0  # never below zero
