"""MEMBER_SOURCE=gateway: member syncs read the participants through a connected session of the
organization (our gateway, WAHA, Evolution API), with the same replace-or-keep rules as WHAPI."""

from __future__ import annotations

import pytest
import responses

from tests import factories
from tests.artists_app.conftest import members_of, sync

pytestmark = pytest.mark.django_db

GATEWAY = "http://gateway.test"  # settings_test.GATEWAY_URL
JID = "120363000000000101%40g.us"  # the group jid as it appears in the path


@pytest.fixture
def gateway_source(settings):
    settings.MEMBER_SOURCE = "gateway"
    return settings


@pytest.fixture
def session(organization):
    return factories.session_create(organization=organization, session_id="wa_members")


def phones(artist) -> set[tuple]:
    return {(m[0], m[1], m[2]) for m in members_of(artist)}


def test_it_reads_the_members_from_our_gateway(gateway_source, artist, session, mocked_gateway):
    mocked_gateway.get(
        f"{GATEWAY}/sessions/wa_members/groups/{JID}/participants",
        json={
            "participants": [
                {"id": "4915123456789", "rank": "creator"},
                {"id": "4917612345678@s.whatsapp.net", "rank": "admin"},
                {"id": "123456789012345@lid", "rank": "member"},
            ]
        },
    )

    result = sync([artist])

    assert result["success_count"] == 1
    assert phones(artist) == {
        (None, "123456789012345@lid", "member"),
        ("4915123456789", "4915123456789", "creator"),
        ("4917612345678", "4917612345678@s.whatsapp.net", "admin"),
    }
    # Nothing asked WHAPI.
    assert all("whapi" not in call.request.url for call in mocked_gateway.calls)


def test_it_reads_the_members_from_waha(gateway_source, artist, session, mocked_gateway):
    gateway_source.GATEWAY_BACKEND = "waha"
    mocked_gateway.get(
        f"{GATEWAY}/api/wa_members/groups/{JID}/participants/v2",
        json=[
            {"id": "4915123456789@c.us", "pn": "4915123456789@c.us", "role": "superadmin"},
            {"id": "99887766@lid", "pn": "4917612345678@c.us", "role": "admin"},
            {"id": "436641234567@c.us", "role": "participant"},
            {"id": "436649999999@c.us", "role": "left"},
        ],
    )

    assert sync([artist])["success_count"] == 1

    assert phones(artist) == {
        ("4915123456789", "4915123456789", "creator"),
        ("436641234567", "436641234567@c.us", "member"),
        ("4917612345678", "4917612345678", "admin"),
    }
    assert mocked_gateway.calls[0].request.headers["X-Api-Key"] == "test-gateway-key"


def test_it_reads_the_members_from_evolution(gateway_source, artist, session, mocked_gateway):
    gateway_source.GATEWAY_BACKEND = "evolution"
    mocked_gateway.get(
        f"{GATEWAY}/group/participants/wa_members?groupJid={JID}",
        json={
            "participants": [
                {"id": "4915123456789@s.whatsapp.net", "admin": "superadmin", "name": "Mira"},
                {
                    "id": "99887766@lid",
                    "phoneNumber": "4917612345678@s.whatsapp.net",
                    "admin": "admin",
                },
                {"id": "436641234567@s.whatsapp.net", "admin": None},
                {"id": "11223344@lid", "admin": None},
            ]
        },
    )

    assert sync([artist])["success_count"] == 1

    assert phones(artist) == {
        (None, "11223344@lid", "member"),
        ("4915123456789", "4915123456789@s.whatsapp.net", "creator"),
        ("436641234567", "436641234567@s.whatsapp.net", "member"),
        ("4917612345678", "4917612345678", "admin"),
    }
    assert mocked_gateway.calls[0].request.headers["apikey"] == "test-gateway-key"


def test_a_failure_keeps_the_old_member_set(synced_artist, organization, settings):
    settings.MEMBER_SOURCE = "gateway"
    factories.session_create(organization=organization, session_id="wa_members")
    before = members_of(synced_artist)
    with responses.RequestsMock() as rsps:
        rsps.get(
            f"{GATEWAY}/sessions/wa_members/groups/{JID}/participants",
            status=503,
            json={"error": "Session not connected"},
        )
        result = sync([synced_artist])

    assert result["fail_count"] == 1
    assert "Session not connected" in result["results"][0]["error"]
    assert [m[:3] for m in members_of(synced_artist)] == [m[:3] for m in before]
    synced_artist.refresh_from_db()
    assert synced_artist.member_sync_status == "failed"


def test_a_bad_answer_keeps_the_old_member_set(synced_artist, organization, settings):
    settings.MEMBER_SOURCE = "gateway"
    factories.session_create(organization=organization, session_id="wa_members")
    before = members_of(synced_artist)
    with responses.RequestsMock() as rsps:
        rsps.get(
            f"{GATEWAY}/sessions/wa_members/groups/{JID}/participants",
            json={"participants": [{"rank": "member"}]},
        )
        result = sync([synced_artist])

    assert result["fail_count"] == 1
    assert members_of(synced_artist) == before


def test_without_a_connected_session_it_fails_and_keeps_the_old_set(
    synced_artist, organization, settings
):
    settings.MEMBER_SOURCE = "gateway"
    factories.session_create(organization=organization, status="disconnected")
    before = members_of(synced_artist)

    result = sync([synced_artist])

    assert result["fail_count"] == 1
    assert "No connected WhatsApp session" in result["results"][0]["error"]
    assert members_of(synced_artist) == before


def test_it_prefers_a_session_that_is_in_the_group(
    gateway_source, artist, organization, mocked_gateway
):
    from tests.campaigns_app.conftest import group_create

    factories.session_create(organization=organization, session_id="wa_other")
    member = factories.session_create(organization=organization, session_id="wa_in_group")
    group_create(
        organization=organization,
        session=member,
        group_jid=f"{artist.whatsapp_group_id}@g.us",
        group_name="Mira Sol – Fans",
    )
    mocked_gateway.get(
        f"{GATEWAY}/sessions/wa_in_group/groups/{JID}/participants",
        json={"participants": [{"id": "4915123456789", "rank": "member"}]},
    )

    assert sync([artist])["success_count"] == 1
    assert members_of(artist)[0][4] == "Mira Sol – Fans"
