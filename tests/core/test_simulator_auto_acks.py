"""The simulator acks a send by itself (auto_acks): server, then delivered for a few group
members and read for some of them, in every dialect, to the dialect's receiver."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway_simulator import GatewaySimulator, generate_groups
from gateway_simulator.state import SimulatorState
from tests.core.test_simulator_dialects import WEBHOOK_KEY, Receiver
from tests.helpers import wait_for

SESSION = "wa_demo_acks"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def make_sim(receiver: Receiver) -> Iterator[Callable[..., GatewaySimulator]]:
    started: list[GatewaySimulator] = []

    def make(dialect: str, **kwargs: Any) -> GatewaySimulator:
        options: dict[str, Any] = {
            "port": 0,
            "dialect": dialect,
            "webhook_base": receiver.url,
            "webhook_api_key": WEBHOOK_KEY,
            "auto_acks": True,
            "auto_ack_delay": 0.02,
            "auto_ack_seed": 7,
        } | kwargs
        sim = GatewaySimulator(**options).start()
        sim.webhook_backoff = 0.01
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def stable(receiver: Receiver) -> list[tuple[str, str | None]] | None:
    """The acks received, once no more arrive for a moment."""
    before = len(receiver.received)
    time.sleep(0.2)
    return acks(receiver) if len(receiver.received) == before else None


def acks(receiver: Receiver) -> list[tuple[str, str | None]]:
    """(ack, participant digits) of every ack webhook received, in any dialect."""
    found = []
    for request in list(receiver.received):
        body = json.loads(request["body"])
        if body.get("event") == "message_ack":  # our protocol
            found.append((body["ack"], body.get("participant")))
        elif body.get("event") in ("message.ack", "message.ack.group"):  # WAHA
            payload = body["payload"]
            name = {"SERVER": "server", "DEVICE": "delivered", "READ": "read"}[payload["ackName"]]
            who = payload.get("participant")
            found.append((name, who.split("@")[0] if who else None))
        elif body.get("event") == "messages.update":  # Evolution API
            data = body["data"]
            status = {"SERVER_ACK": "server", "DELIVERY_ACK": "delivered", "READ": "read"}
            who = data.get("participant")
            found.append((status[data["status"]], who.split("@")[0] if who else None))
    return found


@pytest.mark.parametrize("dialect", ["vps", "waha", "evolution"])
def test_a_send_is_acked_by_itself(make_sim, receiver, dialect):
    sim = make_sim(dialect, auto_ack_read_share=1.0)
    group = generate_groups(SESSION, 30)[0]["id"]

    sim.send(session_id=SESSION, to=group, message="Doors at 8", client_message_id=None)

    def all_acks() -> list[tuple[str, str | None]] | None:
        found = acks(receiver)
        delivered = [who for ack, who in found if ack == "delivered"]
        read = [who for ack, who in found if ack == "read"]
        return found if delivered and sorted(read) == sorted(delivered) else None

    found = wait_for(all_acks)
    assert found[0] == ("server", None)
    delivered = [who for ack, who in found if ack == "delivered"]
    assert 2 <= len(delivered) <= 5 and len(set(delivered)) == len(delivered)
    assert all(who and who.isdigit() for who in delivered)
    # Read after delivered, for each member.
    for who in delivered:
        assert found.index(("delivered", who)) < found.index(("read", who))


def test_about_a_third_read_and_the_seed_repeats_it(make_sim, receiver):
    sim = make_sim("vps")
    groups = [g["id"] for g in generate_groups(SESSION, 30)[:10]]
    for group in groups:
        sim.send(session_id=SESSION, to=group, message="x", client_message_id=None)
    wait_for(lambda: not sim._late_errors and sim._webhook_queue.empty())
    found = wait_for(lambda: stable(receiver))

    delivered = sum(ack == "delivered" for ack, _ in found)
    read = sum(ack == "read" for ack, _ in found)
    assert sum(ack == "server" for ack, _ in found) == len(groups)
    assert 20 <= delivered <= 50
    assert 0.1 <= read / delivered <= 0.6


def test_a_message_to_one_person_is_acked_without_a_participant(make_sim, receiver):
    sim = make_sim("vps", auto_ack_read_share=1.0)

    sim.send(
        session_id=SESSION, to="4915100000009@s.whatsapp.net", message="x", client_message_id=None
    )

    found = wait_for(lambda: (lambda f: f if len(f) == 3 else None)(acks(receiver)))
    assert found == [("server", None), ("delivered", None), ("read", None)]


def test_auto_acks_are_off_unless_asked_for_and_never_for_a_refused_send(make_sim, receiver):
    quiet = make_sim("vps", auto_acks=False)
    parent = next(g["id"] for g in generate_groups(SESSION, 30) if g["isCommunity"])
    group = next(g["id"] for g in generate_groups(SESSION, 30) if not g["isCommunity"])
    quiet.send(session_id=SESSION, to=group, message="x", client_message_id=None)
    assert SimulatorState().auto_acks is False

    acking = make_sim("vps", late_error_delay=0.01)
    acking.send(session_id=SESSION, to=parent, message="x", client_message_id=None)

    [error] = wait_for(lambda: receiver.received or None)
    assert json.loads(error["body"])["event"] == "message_error"
    assert stable(receiver) == []


def test_a_read_share_outside_zero_to_one_is_refused():
    with pytest.raises(ValueError):
        SimulatorState(auto_ack_read_share=1.5)
