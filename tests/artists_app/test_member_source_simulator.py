"""MEMBER_SOURCE=gateway end to end: member syncs read a group's members from the real gateway
simulator (our protocol and Evolution API), membership changes made in the simulator reach the
phone lookup by webhook and by a re-sync, and a failing gateway keeps the cached set."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from artists_app import selectors
from artists_app.models import Artist, ArtistWhatsAppGroupMember
from gateway_simulator import GatewaySimulator, generate_groups, generate_whapi_group
from tests import factories
from tests.artists_app.conftest import artist_make, members_of, sync
from tests.helpers import wait_for

SESSION = "wa_demo_members"  # a demo session: connected in the simulator from the start
NEWCOMER = "4915123456077"
DIALECTS = [("vps", None), ("evolution", "2.3")]
IDS = ["vps", "evolution"]


def a_group_id(session_id: str = SESSION) -> str:
    """A normal group of the session's list, as artists store it (no "@g.us")."""
    jid = next(g["id"] for g in generate_groups(session_id, 30) if not g["isCommunity"])
    return jid.removesuffix("@g.us")


def demo_phones(group_id: str) -> set[tuple[str, str]]:
    return {
        (p["id"], p["rank"])
        for p in generate_whapi_group(group_id)["participants"]
        if "@" not in p["id"]
    }


def cached(artist: Artist) -> set[tuple[str | None, str]]:
    """(member_phone, member_rank) of the artist's cached rows."""
    return {(row[0], row[2]) for row in members_of(artist)}


def lookup(organization, phone: str) -> list[tuple[str, str]]:
    result = selectors.artist_lookup_by_phone(organization=organization, phone=phone)
    return [(m.name, m.member_rank) for m in result.matches]


@pytest.fixture
def start_sim(settings) -> Iterator[Callable[..., GatewaySimulator]]:
    """The simulator speaking `dialect`, the CRM's default gateway pointed at it, and
    MEMBER_SOURCE=gateway."""
    started: list[GatewaySimulator] = []

    def start(dialect: str, variant: str | None = None, **options: Any) -> GatewaySimulator:
        sim = GatewaySimulator(
            port=0,
            api_key=settings.GATEWAY_API_KEY,
            connect_after=0,
            dialect=dialect,
            variant=variant,
            **options,
        ).start()
        sim.webhook_backoff = 0.01
        started.append(sim)
        settings.GATEWAY_BACKEND, settings.GATEWAY_URL = dialect, sim.url
        settings.MEMBER_SOURCE = "gateway"
        return sim

    yield start
    for sim in started:
        sim.stop()


def control_change(sim: GatewaySimulator, group_id: str, action: str, who: list[str]) -> None:
    answer = requests.post(
        f"{sim.url}/_control/sessions/{SESSION}/participants",
        json={"groupJid": f"{group_id}@g.us", "action": action, "participants": who},
        timeout=5,
    )
    assert answer.json() == {"ok": True}


def gateway_calls(sim: GatewaySimulator) -> list[str]:
    return [r["path"] for r in sim.requests()]


# --- syncing through the simulator ----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("dialect", "variant"), DIALECTS, ids=IDS)
def test_a_sync_fills_the_cache_from_the_gateway(start_sim, organization, dialect, variant):
    sim = start_sim(dialect, variant)
    factories.session_create(organization=organization, session_id=SESSION)
    artist = artist_make(organization, group_id=a_group_id())

    result = sync([artist])

    assert (result["success_count"], result["fail_count"]) == (1, 0)
    members = generate_whapi_group(artist.whatsapp_group_id)["participants"]
    phones = demo_phones(artist.whatsapp_group_id)
    # The 38 numbers with their ranks; the 2 privacy ids nobody resolved are kept, never matched.
    assert cached(artist) == phones | {(None, "member")}
    assert ArtistWhatsAppGroupMember.objects.filter(artist=artist).count() == len(members)
    creator = next(phone for phone, rank in phones if rank == "creator")
    assert lookup(organization, f"+{creator}") == [("Mira Sol", "creator")]
    # Read through the gateway, never through WHAPI.
    assert gateway_calls(sim) and not any(p.startswith("/whapi") for p in gateway_calls(sim))


@pytest.mark.django_db
@pytest.mark.parametrize(("dialect", "variant"), DIALECTS, ids=IDS)
def test_a_member_added_in_the_simulator_is_found_after_a_resync(
    start_sim, organization, dialect, variant
):
    sim = start_sim(dialect, variant)  # no webhook target: only the re-sync brings changes
    factories.session_create(organization=organization, session_id=SESSION)
    artist = artist_make(organization, group_id=a_group_id())
    assert sync([artist])["success_count"] == 1
    leaver = next(phone for phone, rank in demo_phones(artist.whatsapp_group_id) if rank == "admin")

    control_change(sim, artist.whatsapp_group_id, "add", [NEWCOMER])
    control_change(sim, artist.whatsapp_group_id, "remove", [leaver])
    assert lookup(organization, f"+{NEWCOMER}") == []  # not synced yet

    assert sync([artist])["success_count"] == 1

    assert lookup(organization, f"+{NEWCOMER}") == [("Mira Sol", "member")]
    assert lookup(organization, f"+{leaver}") == []


# --- failures keep the cached set ------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("dialect", "variant"), DIALECTS, ids=IDS)
def test_a_session_disconnected_in_the_gateway_keeps_the_old_set(
    start_sim, organization, dialect, variant
):
    sim = start_sim(dialect, variant)
    factories.session_create(organization=organization, session_id=SESSION)
    artist = artist_make(organization, group_id=a_group_id())
    assert sync([artist])["success_count"] == 1
    before = members_of(artist)
    # The phone went offline; without a webhook target the CRM still thinks it is connected.
    sim.disconnect(SESSION, error="Phone offline")
    control_change(sim, artist.whatsapp_group_id, "add", [NEWCOMER])  # a change nobody can read

    result = sync([artist])

    assert (result["success_count"], result["fail_count"]) == (0, 1)
    error = result["results"][0]["error"]
    assert f"session {SESSION}" in error
    assert ("not connected" if dialect == "vps" else "Connection Closed") in error
    assert members_of(artist) == before
    artist.refresh_from_db()
    assert (artist.member_sync_status, artist.member_sync_error) == ("failed", error)
    rows = ArtistWhatsAppGroupMember.objects.filter(artist=artist)
    assert {(row.sync_status, row.sync_error) for row in rows} == {("failed", error)}


@pytest.mark.django_db
@pytest.mark.parametrize(("dialect", "variant"), DIALECTS, ids=IDS)
def test_a_gateway_answering_500_keeps_the_old_set(start_sim, organization, dialect, variant):
    sim = start_sim(dialect, variant)
    factories.session_create(organization=organization, session_id=SESSION)
    artist = artist_make(organization, group_id=a_group_id())
    assert sync([artist])["success_count"] == 1
    before = members_of(artist)
    sim.add_failure(path="participants", status=500, times=-1)

    result = sync([artist])

    assert result["fail_count"] == 1
    assert "error 500" in result["results"][0]["error"]
    assert members_of(artist) == before
    artist.refresh_from_db()
    assert artist.member_sync_status == "failed"
    # Once the gateway answers again, the next sync replaces the set.
    sim.clear_failures()
    control_change(sim, artist.whatsapp_group_id, "add", [NEWCOMER])
    assert sync([artist])["success_count"] == 1
    assert lookup(organization, f"+{NEWCOMER}") == [("Mira Sol", "member")]


# --- webhooks: the live cache -----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("dialect", "variant"), DIALECTS, ids=IDS)
def test_a_change_reaches_the_lookup_by_webhook_and_a_resync_agrees(
    start_sim, settings, live_server, transactional_db, organization, dialect, variant
):
    sim = start_sim(
        dialect,
        variant,
        webhook_base=live_server.url,
        webhook_api_key=settings.WEBHOOK_API_KEY,
        webhook_hmac_secret=settings.WEBHOOK_HMAC_SECRET,
    )
    factories.session_create(organization=organization, session_id=SESSION)
    artist = artist_make(organization, group_id=a_group_id())
    assert sync([artist])["success_count"] == 1
    creator = next(p for p, rank in demo_phones(artist.whatsapp_group_id) if rank == "creator")

    control_change(sim, artist.whatsapp_group_id, "add", [NEWCOMER])
    assert wait_for(lambda: lookup(organization, f"+{NEWCOMER}")) == [("Mira Sol", "member")]

    control_change(sim, artist.whatsapp_group_id, "promote", [NEWCOMER])
    wait_for(lambda: lookup(organization, f"+{NEWCOMER}") == [("Mira Sol", "admin")])
    control_change(sim, artist.whatsapp_group_id, "remove", [creator])
    wait_for(lambda: lookup(organization, f"+{creator}") == [])
    assert all(d["status"] == 200 for d in sim.webhook_deliveries())
    live = cached(artist)

    # The gateway's list changed the same way: a full sync finds what the webhooks made.
    assert sync([artist])["success_count"] == 1
    assert cached(artist) == live
    assert (NEWCOMER, "admin") in live and (creator, "creator") not in live
