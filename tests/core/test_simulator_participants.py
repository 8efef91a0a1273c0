"""The simulator's group members (gateway_simulator/members.py): each dialect's participants
endpoint, read by the real adapters over HTTP; membership changes through the control endpoint;
WHAPI answering the same members; unknown sessions and groups."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
import requests

from gateway_simulator import GatewaySimulator, generate_groups, generate_whapi_group
from gateway_simulator.members import privacy_id
from tests.core.test_simulator import WebhookReceiver
from tests.helpers import wait_for
from whatsapp_crm.gateway import GatewayError, VpsGateway
from whatsapp_crm.gateway_evolution import EvolutionGateway
from whatsapp_crm.gateway_waha import WahaGateway

API_KEY = "participants-test-key"
SESSION = "wa_demo_members"  # demo sessions are connected from the start
VARIANTS = [
    ("vps", None),
    ("waha", "WEBJS"),
    ("waha", "NOWEB"),
    ("waha", "GOWS"),
    ("evolution", "2.3"),
    ("evolution", "2.2"),
]
IDS = [f"{d}-{v}" if v else d for d, v in VARIANTS]
NEWCOMER = "4915100000077"


@pytest.fixture
def make_sim() -> Iterator[Callable[..., GatewaySimulator]]:
    started: list[GatewaySimulator] = []

    def make(dialect: str = "vps", variant: str | None = None) -> GatewaySimulator:
        sim = GatewaySimulator(
            port=0, api_key=API_KEY, connect_after=0, dialect=dialect, variant=variant
        ).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def adapter(sim: GatewaySimulator) -> Any:
    name = sim.dialect.name
    if name == "waha":
        return WahaGateway(base_url=sim.url, api_key=API_KEY, timeout=5, single_session=False)
    if name == "evolution":
        return EvolutionGateway(base_url=sim.url, api_key=API_KEY, timeout=5)
    return VpsGateway(base_url=sim.url, api_key=API_KEY, timeout=5)


def a_group(session_id: str = SESSION) -> str:
    """A normal group of the session's list (its JID)."""
    return next(g["id"] for g in generate_groups(session_id, 30) if not g["isCommunity"])


def listed(sim: GatewaySimulator, group: str, session_id: str = SESSION) -> set[tuple[str, str]]:
    """(number or privacy id, rank) of each member, as the adapter reads them."""
    return {
        (p.phone or p.id.removesuffix("@c.us").removesuffix("@s.whatsapp.net"), p.rank)
        for p in adapter(sim).list_participants(session_id, group)
    }


def demo_members(group: str) -> set[tuple[str, str]]:
    return {(p["id"], p["rank"]) for p in generate_whapi_group(group)["participants"]}


def change(sim: GatewaySimulator, group: str, action: str, participants: list[str], **kw: Any):
    return requests.post(
        f"{sim.url}/_control/sessions/{kw.get('session', SESSION)}/participants",
        json={"groupJid": group, "action": action, "participants": participants},
        timeout=5,
    )


def whapi(sim: GatewaySimulator, group: str) -> set[tuple[str, str]]:
    body = requests.get(f"{sim.whapi_url}/groups/{group}", timeout=5).json()
    return {(p["id"], p["rank"]) for p in body["participants"]}


@pytest.mark.parametrize(("dialect", "variant"), VARIANTS, ids=IDS)
def test_each_dialect_lists_the_groups_demo_members(make_sim, dialect, variant):
    sim = make_sim(dialect, variant)
    group = a_group()

    members = listed(sim, group)

    assert members == demo_members(group)  # what WHAPI answers for the group
    assert len(members) == 40
    assert sorted(rank for _, rank in members)[:3] == ["admin", "admin", "creator"]


@pytest.mark.parametrize(("dialect", "variant"), VARIANTS, ids=IDS)
def test_add_promote_demote_remove_are_reflected(make_sim, dialect, variant):
    sim = make_sim(dialect, variant)
    group = a_group()
    before = demo_members(group)
    creator = next(pid for pid, rank in before if rank == "creator")

    assert change(sim, group, "add", [NEWCOMER]).json() == {"ok": True}
    assert listed(sim, group) == before | {(NEWCOMER, "member")}

    assert change(sim, group, "promote", [f"{NEWCOMER}@s.whatsapp.net", creator]).ok
    assert listed(sim, group) == before | {(NEWCOMER, "admin")}  # the creator stays creator

    assert change(sim, group, "demote", [f"{NEWCOMER}@c.us"]).ok
    assert listed(sim, group) == before | {(NEWCOMER, "member")}

    assert change(sim, group, "remove", [NEWCOMER, creator]).ok
    assert listed(sim, group) == before - {(creator, "creator")}
    # WHAPI answers the same people for the group, so both member sources agree.
    assert whapi(sim, group) == before - {(creator, "creator")}


@pytest.mark.parametrize(("dialect", "variant"), VARIANTS, ids=IDS)
def test_a_changed_group_lists_its_member_count_as_its_size(make_sim, dialect, variant):
    sim = make_sim(dialect, variant)
    group = a_group()
    generated = next(g for g in generate_groups(SESSION, 30) if g["id"] == group)["size"]

    def synced_size() -> int:
        return next(g.size for g in adapter(sim).list_groups(SESSION) if g.jid == group)

    assert synced_size() == generated  # untouched: the generated size
    change(sim, group, "add", [NEWCOMER, "4917600000002"])
    assert synced_size() == 42  # its 40 members and the two who joined
    change(sim, group, "remove", [NEWCOMER])
    assert synced_size() == 41


def test_a_privacy_id_is_kept_as_given_and_an_add_keeps_a_rank(make_sim):
    sim = make_sim("vps")
    group = a_group()
    admin = next(pid for pid, rank in demo_members(group) if rank == "admin")

    assert change(sim, group, "add", ["123456789012345@lid", admin]).ok

    members = listed(sim, group)
    assert ("123456789012345@lid", "member") in members
    assert (admin, "admin") in members  # already in: keeps the rank


def test_promoting_someone_not_in_the_group_adds_them_as_admin(make_sim):
    """The CRM's rule for the same webhook, so a later full sync agrees with it."""
    sim = make_sim("evolution", "2.3")
    group = a_group()

    assert change(sim, group, "promote", [NEWCOMER]).ok

    assert (NEWCOMER, "admin") in listed(sim, group)


def test_members_belong_to_the_group_not_the_session(make_sim):
    sim = make_sim("vps")
    group = a_group()
    other = "wa_demo_other"
    sim.set_groups(other, groups=[{"id": group, "subject": "Shared", "size": 40}])

    assert change(sim, group, "add", [NEWCOMER]).ok

    assert (NEWCOMER, "member") in listed(sim, group, session_id=other)


def test_set_whapi_group_sets_the_members_for_both_sources(make_sim):
    sim = make_sim("waha", "NOWEB")
    group = a_group()
    members = [{"id": "4915112345678", "rank": "creator"}, {"id": "99887766@lid", "rank": "member"}]
    answer = requests.post(
        f"{sim.url}/_control/whapi/groups/{group.removesuffix('@g.us')}",
        json={"name": "Nova Lights Fans", "participants": members},
        timeout=5,
    )
    assert answer.json() == {"ok": True}

    raw = requests.get(
        f"{sim.url}/api/{SESSION}/groups/{quote(group)}/participants/v2",
        headers={"X-Api-Key": API_KEY},
        timeout=5,
    ).json()

    assert raw == [
        {"id": privacy_id("4915112345678"), "pn": "4915112345678@c.us", "role": "superadmin"},
        {"id": "99887766@lid", "role": "participant"},
    ]
    assert whapi(sim, group) == {("4915112345678", "creator"), ("99887766@lid", "member")}
    assert listed(sim, group) == {("4915112345678", "creator"), ("99887766@lid", "member")}


# --- not found, not connected ----------------------------------------------------------------------

NOT_FOUND = {
    "vps": {"error": "Group 120363999999999999@g.us not found"},
    "waha": {
        "message": "Group 120363999999999999@g.us not found",
        "error": "Not Found",
        "statusCode": 404,
    },
    "evolution": {
        "status": 404,
        "error": "Not Found",
        "response": {"message": ["No participants", "Error: item-not-found"]},
    },
}


def participants_url(sim: GatewaySimulator, session_id: str, group: str) -> tuple[str, dict]:
    jid = quote(group)
    if sim.dialect.name == "waha":
        return f"{sim.url}/api/{session_id}/groups/{jid}/participants/v2", {"X-Api-Key": API_KEY}
    if sim.dialect.name == "evolution":
        return f"{sim.url}/group/participants/{session_id}?groupJid={jid}", {"apikey": API_KEY}
    return f"{sim.url}/sessions/{session_id}/groups/{jid}/participants", {"X-API-Key": API_KEY}


@pytest.mark.parametrize(("dialect", "variant"), VARIANTS, ids=IDS)
def test_a_group_the_session_is_not_in_is_not_found(make_sim, dialect, variant):
    sim = make_sim(dialect, variant)
    url, headers = participants_url(sim, SESSION, "120363999999999999@g.us")

    answer = requests.get(url, headers=headers, timeout=5)

    assert (answer.status_code, answer.json()) == (404, NOT_FOUND[dialect])
    with pytest.raises(GatewayError) as caught:
        adapter(sim).list_participants(SESSION, "120363999999999999@g.us")
    assert (caught.value.status_code, caught.value.permanent) == (404, True)


@pytest.mark.parametrize(("dialect", "variant"), VARIANTS, ids=IDS)
def test_an_unknown_session_is_not_found(make_sim, dialect, variant):
    sim = make_sim(dialect, variant)
    url, headers = participants_url(sim, "wa_nobody", a_group("wa_nobody"))

    answer = requests.get(url, headers=headers, timeout=5)

    assert answer.status_code == 404
    assert "wa_nobody" in answer.text or "Session not found" in answer.text


@pytest.mark.parametrize(
    ("dialect", "status", "code"),
    [("vps", 503, "not_connected"), ("waha", 422, "not_connected"), ("evolution", 404, None)],
)
def test_a_disconnected_session_answers_the_dialects_not_connected_error(
    make_sim, dialect, status, code
):
    sim = make_sim(dialect)
    sim.disconnect(SESSION, error="Phone offline")

    with pytest.raises(GatewayError) as caught:
        adapter(sim).list_participants(SESSION, a_group())

    assert caught.value.status_code == status
    if code:
        assert (caught.value.code, caught.value.permanent) == (code, False)
    else:  # Evolution's findParticipants wraps Baileys' error in a 404
        assert "Connection Closed" in str(caught.value.body)


def test_evolution_needs_the_group_in_the_query(make_sim):
    sim = make_sim("evolution")

    answer = requests.get(
        f"{sim.url}/group/participants/{SESSION}", headers={"apikey": API_KEY}, timeout=5
    )

    assert answer.status_code == 400


def test_a_change_to_a_group_the_session_is_not_in_is_refused_and_changes_nothing(make_sim):
    sim = make_sim("vps")
    stranger = "120363999999999999@g.us"

    refused = change(sim, stranger, "add", [NEWCOMER])
    bad_action = change(sim, a_group(), "ban", [NEWCOMER])
    unknown_session = change(sim, a_group(), "add", [NEWCOMER], session="wa_nobody")

    assert (refused.status_code, refused.json()) == (404, {"error": f"Group {stranger} not found"})
    assert (bad_action.status_code, unknown_session.status_code) == (400, 404)
    assert listed(sim, a_group()) == demo_members(a_group())
    assert sim.state()["whapi"]["groups"] == []


# --- state -------------------------------------------------------------------------------------------


def test_concurrent_changes_are_all_kept(make_sim):
    sim = make_sim("vps")
    group = a_group()
    newcomers = [[f"49151{t:02d}{n:06d}" for n in range(25)] for t in range(8)]

    def add_all(numbers: list[str]) -> None:
        for number in numbers:
            sim.change_participants(SESSION, group, "add", [number])

    threads = [threading.Thread(target=add_all, args=(numbers,)) for numbers in newcomers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    added = {(number, "member") for numbers in newcomers for number in numbers}
    assert listed(sim, group) == demo_members(group) | added


def test_reset_forgets_the_changes(make_sim):
    sim = make_sim("vps")
    group = a_group()
    assert change(sim, group, "remove", [next(iter(demo_members(group)))[0]]).ok
    assert listed(sim, group) != demo_members(group)

    assert requests.post(f"{sim.url}/_control/reset", timeout=5).ok

    assert listed(sim, group) == demo_members(group)


def test_auto_acks_come_from_the_groups_members_as_they_are_now():
    receiver = WebhookReceiver()
    sim = GatewaySimulator(
        port=0,
        api_key=API_KEY,
        webhook_base=receiver.url,
        auto_acks=True,
        auto_ack_delay=0.01,
        auto_ack_read_share=0.0,
    ).start()
    try:
        group = a_group()
        members = [
            {"id": "4915112345678", "rank": "creator"},
            {"id": "998877@lid", "rank": "member"},
        ]
        sim.set_whapi_group(group, participants=members)
        sim.change_participants(SESSION, group, "add", ["4917612345678"])

        sim.send(session_id=SESSION, to=group, message="x", client_message_id=None)

        def delivered() -> set[str]:
            return {
                p["participant"]
                for p in receiver.payloads("message_ack")
                if p["ack"] == "delivered"
            }

        # 2 to 5 members deliver; of the group's members as they are now, two have a number.
        assert wait_for(lambda: len(delivered()) == 2 and delivered()) == {
            "4915112345678",
            "4917612345678",
        }
    finally:
        sim.stop()
        receiver.close()
