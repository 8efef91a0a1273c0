"""The gateway simulator speaking WAHA and Evolution API, driven over HTTP by the real adapters
(whatsapp_crm.gateway_waha / gateway_evolution), with its webhooks caught by a local receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from gateway_simulator import GatewaySimulator, generate_groups
from tests.helpers import wait_for
from whatsapp_crm.gateway import GatewayError, WebhookTarget
from whatsapp_crm.gateway_evolution import EvolutionGateway
from whatsapp_crm.gateway_waha import WahaGateway

API_KEY = "dialect-test-key"
WEBHOOK_KEY = "dialect-webhook-key"
HMAC_SECRET = "dialect-hmac-secret"
PHONE = "4915112345678"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# (dialect, variant): every engine variant the simulator speaks.
VARIANTS = [
    ("waha", "WEBJS"),
    ("waha", "NOWEB"),
    ("waha", "GOWS"),
    ("evolution", "2.3"),
    ("evolution", "2.2"),
]
IDS = [f"{d}-{v}" for d, v in VARIANTS]


class Receiver:
    """A CRM stand-in that records every webhook and answers 200."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append({"path": self.path, "headers": self.headers, "body": body})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def events(self, name: str, **where: Any) -> list[dict[str, Any]]:
        """The envelopes of event `name` whose payload/data contain `where`."""
        found = []
        for request in list(self.received):
            envelope = json.loads(request["body"])
            inner = envelope.get("payload", envelope.get("data")) or {}
            if envelope.get("event") == name and all(inner.get(k) == v for k, v in where.items()):
                found.append(envelope)
        return found

    def request_of(self, envelope: dict[str, Any]) -> dict[str, Any]:
        return next(r for r in self.received if json.loads(r["body"]) == envelope)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def make_sim() -> Iterator[Callable[..., GatewaySimulator]]:
    started: list[GatewaySimulator] = []

    def make(dialect: str, variant: str | None = None, **kwargs: Any) -> GatewaySimulator:
        options: dict[str, Any] = {
            "port": 0,
            "api_key": API_KEY,
            "connect_after": 0,  # connected only when the QR is "scanned" (a control call)
            "late_error_delay": 0.05,
            "dialect": dialect,
            "variant": variant,
        }
        options.update(kwargs)
        sim = GatewaySimulator(**options).start()
        sim.webhook_backoff = 0.01
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


def adapter(sim: GatewaySimulator, *, key: str = API_KEY, **options: Any) -> Any:
    name = sim.dialect.name
    if name == "waha":
        options.setdefault("single_session", False)
        return WahaGateway(base_url=sim.url, api_key=key, timeout=5, **options)
    return EvolutionGateway(base_url=sim.url, api_key=key, timeout=5, **options)


def scan(sim: GatewaySimulator, session_id: str, phone: str = PHONE) -> None:
    """Scan the QR code: the simulator's control endpoint, over HTTP as a demo would."""
    answer = requests.post(
        f"{sim.url}/_control/sessions/{session_id}/connect", json={"phoneNumber": phone}, timeout=5
    )
    assert answer.json() == {"ok": True}


def parents_and_announcements(session_id: str) -> tuple[set[str], set[str]]:
    groups = generate_groups(session_id, 30)
    parents = {g["id"] for g in groups if g["isCommunity"]}
    announcements = {g["id"] for g in groups if g["isCommunityAnnounce"]}
    assert parents and announcements
    return parents, announcements


# --- the adapters over HTTP ------------------------------------------------------------------------


@pytest.mark.parametrize(("dialect", "variant"), VARIANTS, ids=IDS)
def test_it_connects_a_session_by_qr_and_reports_the_phone(make_sim, dialect, variant):
    sim = make_sim(dialect, variant)
    gateway = adapter(sim)

    created = gateway.create_session("wa_1")
    assert created.status == "connecting"
    qr = gateway.get_qr("wa_1")
    assert qr.startswith("2@") and qr.count(",") == 3  # WhatsApp's pairing QR text
    assert gateway.get_status("wa_1").status == "connecting"

    scan(sim, "wa_1")
    status = gateway.get_status("wa_1")
    assert (status.status, status.phone_number, status.error) == ("connected", PHONE, None)
    assert gateway.get_qr("wa_1") is None  # no QR code once connected

    # Creating it again: WAHA answers 422 "already exists" and the adapter restarts the session
    # (a new QR); Evolution answers 403 "in use" and /instance/connect reports it open.
    again = gateway.create_session("wa_1").status
    assert again == ("connecting" if dialect == "waha" else "connected")


@pytest.mark.parametrize(("dialect", "variant"), VARIANTS, ids=IDS)
def test_it_lists_groups_in_the_engine_shape_with_communities_marked(make_sim, dialect, variant):
    sim = make_sim(dialect, variant)
    gateway = adapter(sim)
    gateway.create_session("wa_1")
    scan(sim, "wa_1")

    groups = gateway.list_groups("wa_1")

    expected = generate_groups("wa_1", 30)
    assert [g.jid for g in groups] == [g["id"] for g in expected]
    assert [g.subject for g in groups] == [g["subject"] for g in expected]
    assert [g.size for g in groups] == [g["size"] for g in expected]
    parents, announcements = parents_and_announcements("wa_1")
    assert {g.jid for g in groups if g.is_community} == parents
    assert {g.jid for g in groups if g.is_community_announce} == announcements
    assert all(g.linked_parent in parents for g in groups if g.is_community_announce)


@pytest.mark.django_db
@pytest.mark.parametrize(("dialect", "variant"), VARIANTS, ids=IDS)
def test_it_syncs_groups_skipping_community_parents(
    make_sim, settings, organization, dialect, variant
):
    from groups_app.models import WhatsAppGroup
    from groups_app.services import group_sync
    from tests import factories

    sim = make_sim(dialect, variant)
    settings.GATEWAY_BACKEND, settings.GATEWAY_URL = dialect, sim.url
    settings.GATEWAY_API_KEY, settings.WAHA_SINGLE_SESSION = API_KEY, False
    session = factories.session_create(organization=organization, session_id="wa_demo_sync")

    result = group_sync(session=session)

    parents, announcements = parents_and_announcements("wa_demo_sync")
    stored = set(WhatsAppGroup.objects.filter(session=session).values_list("group_jid", flat=True))
    assert result.vps_count == 30
    assert result.skipped_community_parents == len(parents)
    assert stored == {g["id"] for g in generate_groups("wa_demo_sync", 30)} - parents
    assert announcements <= stored


@pytest.mark.parametrize(("dialect", "variant"), VARIANTS, ids=IDS)
def test_it_sends_and_answers_the_message_id_the_gateway_recorded(make_sim, dialect, variant):
    sim = make_sim(dialect, variant)
    gateway = adapter(sim)
    group = generate_groups("wa_demo_send", 30)[0]["id"]

    message_id = gateway.send_message(
        session_id="wa_demo_send", to=group, message="Soundcheck at 5", client_message_id="c-1"
    )

    [send] = sim.sends()
    assert send["messageId"] == message_id
    assert (send["to"], send["message"]) == (group, "Soundcheck at 5")
    assert "_" not in message_id and message_id.isalnum()  # a bare WhatsApp id


@pytest.mark.parametrize(("dialect", "variant"), VARIANTS, ids=IDS)
def test_it_answers_a_disconnected_session_as_not_connected(make_sim, dialect, variant):
    sim = make_sim(dialect, variant)
    gateway = adapter(sim)
    group = generate_groups("wa_demo_off", 30)[0]["id"]
    sim.disconnect("wa_demo_off", error="Phone offline")

    with pytest.raises(GatewayError) as send_error:
        gateway.send_message(session_id="wa_demo_off", to=group, message="x", client_message_id="c")
    with pytest.raises(GatewayError) as groups_error:
        gateway.list_groups("wa_demo_off")

    for error in (send_error.value, groups_error.value):
        assert error.code == "not_connected"
        assert not error.permanent and not error.ambiguous
    assert sim.sends() == []
    status = gateway.get_status("wa_demo_off")
    assert (status.status, status.phone_number) == ("disconnected", None)
    # The session comes back: the send goes through.
    scan(sim, "wa_demo_off")
    assert gateway.send_message(
        session_id="wa_demo_off", to=group, message="x", client_message_id="c"
    )


@pytest.mark.parametrize(("dialect", "variant"), VARIANTS, ids=IDS)
def test_it_logs_a_session_out(make_sim, dialect, variant):
    sim = make_sim(dialect, variant)
    gateway = adapter(sim)
    gateway.create_session("wa_1")
    scan(sim, "wa_1")

    gateway.delete_session("wa_1")

    if dialect == "waha":  # DELETE /api/sessions/{name} deletes it
        with pytest.raises(GatewayError) as gone:
            gateway.get_status("wa_1")
        assert gone.value.code == "not_found"
    else:  # logged out, closed; logging out again is answered 400, which is done
        assert gateway.get_status("wa_1").status == "disconnected"
        gateway.delete_session("wa_1")


@pytest.mark.parametrize(("dialect", "variant"), VARIANTS, ids=IDS)
def test_it_refuses_a_wrong_key_in_the_gateway_shape(make_sim, dialect, variant):
    sim = make_sim(dialect, variant)
    with pytest.raises(GatewayError) as refused:
        adapter(sim, key="wrong").get_status("wa_demo_main")
    assert refused.value.code == "unauthorized"
    assert refused.value.status_code == 401
    header = {"waha": "X-Api-Key", "evolution": "apikey"}[dialect]
    body = requests.get(f"{sim.url}/whatever", headers={header: "wrong"}, timeout=5).json()
    assert body == (
        {"message": "Unauthorized", "statusCode": 401}
        if dialect == "waha"
        else {"status": 401, "error": "Unauthorized", "response": {"message": "Unauthorized"}}
    )
    adapter(sim).check_connection()  # the right key: a gateway of this kind


# --- webhooks ----------------------------------------------------------------------------------------

WAHA_ENVELOPE = {
    "id",
    "timestamp",
    "event",
    "session",
    "metadata",
    "payload",
    "engine",
    "environment",
}
EVOLUTION_ENVELOPE = {
    "event",
    "instance",
    "data",
    "destination",
    "date_time",
    "server_url",
    "apikey",
}


def test_it_posts_wahas_webhooks_in_wahas_envelope(make_sim, receiver):
    sim = make_sim(
        "waha",
        "GOWS",
        webhook_base=receiver.url,
        webhook_api_key=WEBHOOK_KEY,
        webhook_hmac_secret=HMAC_SECRET,
    )
    gateway = adapter(sim)
    gateway.create_session("wa_1")
    scan(sim, "wa_1")
    parent = sorted(parents_and_announcements("wa_1")[0])[0]
    message_id = gateway.send_message(
        session_id="wa_1", to=parent, message="x", client_message_id="c"
    )
    requests.post(
        f"{sim.url}/_control/sessions/wa_1/participants",
        json={"groupJid": parent, "action": "add", "participants": ["4915100000001"]},
        timeout=5,
    ).raise_for_status()

    [error_ack] = wait_for(lambda: receiver.events("message.ack"))
    [joined] = wait_for(lambda: receiver.events("group.v2.participants"))
    sim.ack(message_id, "read", participant="4915100000002")
    [read] = wait_for(lambda: receiver.events("message.ack.group"))
    assert (read["payload"]["ack"], read["payload"]["ackName"]) == (3, "READ")
    assert read["payload"]["participant"] == "4915100000002@c.us"
    assert (read["payload"]["from"], read["payload"]["to"]) == (parent, f"{PHONE}@c.us")
    statuses = [e["payload"]["status"] for e in receiver.events("session.status")]
    assert statuses == ["STARTING", "SCAN_QR_CODE", "WORKING"]
    [working] = receiver.events("session.status", status="WORKING")

    for envelope in (working, error_ack, joined):
        assert set(envelope) >= WAHA_ENVELOPE
        assert envelope["id"].startswith("evt_") and len(envelope["id"]) == 30
        assert (envelope["session"], envelope["engine"]) == ("wa_1", "GOWS")
        request = receiver.request_of(envelope)
        assert request["path"] == "/api/webhooks/waha/"
        assert request["headers"]["X-Api-Key"] == WEBHOOK_KEY
        expected = hmac.new(HMAC_SECRET.encode(), request["body"], hashlib.sha512).hexdigest()
        assert request["headers"]["X-Webhook-Hmac"] == expected
        assert request["headers"]["X-Webhook-Hmac-Algorithm"] == "sha512"
    assert working["me"]["id"] == f"{PHONE}@c.us"
    assert [s["status"] for s in working["payload"]["statuses"]] == statuses
    assert error_ack["payload"] | {"_data": {}} == {
        "id": f"true_{parent}_{message_id}_{PHONE}@c.us",  # GOWS: group message ids name us
        "from": f"{PHONE}@c.us",
        "to": parent,
        "participant": None,
        "fromMe": True,
        "ack": -1,
        "ackName": "ERROR",
        "_data": {},
    }
    assert joined["payload"]["type"] == "join"
    assert joined["payload"]["group"] == {"id": parent}
    assert joined["payload"]["participants"] == [
        {"id": "4915100000001@c.us", "role": "participant"}
    ]
    check_recorded_shapes("waha", [working, error_ack, joined, read], key="payload")


def test_it_posts_evolutions_webhooks_in_evolutions_envelope(make_sim, receiver):
    sim = make_sim("evolution", "2.3", webhook_base=receiver.url, webhook_api_key=WEBHOOK_KEY)
    gateway = adapter(sim)
    gateway.create_session("wa_1")
    scan(sim, "wa_1")
    parent = sorted(parents_and_announcements("wa_1")[0])[0]
    message_id = gateway.send_message(
        session_id="wa_1", to=parent, message="x", client_message_id="c"
    )
    sim.change_participants("wa_1", parent, "remove", ["4915100000001"])

    [error_update] = wait_for(lambda: receiver.events("messages.update"))
    [left] = wait_for(lambda: receiver.events("group-participants.update"))
    answer = requests.post(
        f"{sim.url}/_control/messages/{message_id}/ack",
        json={"ack": "read", "participant": "4915100000002"},
        timeout=5,
    )
    assert answer.json() == {"ok": True}
    [read] = wait_for(lambda: receiver.events("messages.update", status="READ"))
    assert read["data"]["keyId"] == message_id
    assert read["data"]["participant"] == "4915100000002@s.whatsapp.net"
    states = [e["data"]["state"] for e in receiver.events("connection.update")]
    assert states == ["connecting", "open"]
    [opened] = receiver.events("connection.update", state="open")

    for envelope in (opened, error_update, left):
        assert set(envelope) >= EVOLUTION_ENVELOPE
        assert envelope["instance"] == "wa_1"
        assert envelope["sender"] == f"{PHONE}@s.whatsapp.net"
        request = receiver.request_of(envelope)
        assert request["path"] == "/api/webhooks/evolution/"
        assert request["headers"]["X-Api-Key"] == WEBHOOK_KEY
    assert opened["data"]["wuid"] == f"{PHONE}@s.whatsapp.net"
    data = error_update["data"]
    assert (data["keyId"], data["remoteJid"], data["fromMe"]) == (message_id, parent, True)
    assert data["status"] == "ERROR"
    assert data["messageId"] != message_id  # Evolution's own row id: the receiver needs keyId
    assert (left["data"]["id"], left["data"]["action"]) == (parent, "remove")
    assert left["data"]["participants"] == ["4915100000001@s.whatsapp.net"]
    assert left["data"]["participantsData"][0]["phoneNumber"] == "4915100000001"
    check_recorded_shapes("evolution", [opened, error_update, left, read], key="data")
    gateway.delete_session("wa_1")
    [closed] = wait_for(lambda: receiver.events("connection.update", state="close"))
    assert closed["data"]["statusReason"] == 401  # logged out
    check_recorded_shapes("evolution", [closed], key="data")


def test_it_posts_to_the_webhook_a_session_registered(make_sim, receiver):
    """PUBLIC_BASE_URL set: the adapters register our receiver per session; no global target."""
    target = WebhookTarget(url=receiver.url + "/api/webhooks/waha/gw-1/", api_key="row-secret")
    waha = make_sim("waha", "NOWEB")
    gateway = adapter(waha, webhook=WebhookTarget(target.url, target.api_key, "row-hmac"))
    gateway.create_session("wa_1")
    scan(waha, "wa_1")
    [hook] = wait_for(lambda: receiver.events("session.status", status="WORKING"))
    request = receiver.request_of(hook)
    assert request["path"] == "/api/webhooks/waha/gw-1/"
    assert request["headers"]["X-Api-Key"] == "row-secret"
    signed = hmac.new(b"row-hmac", request["body"], hashlib.sha512).hexdigest()
    assert request["headers"]["X-Webhook-Hmac"] == signed
    assert hook["metadata"] == {"whatsapp_crm.session_id": "wa_1"}

    evolution = make_sim("evolution")
    url = receiver.url + "/api/webhooks/evolution/gw-2/"
    gateway = adapter(evolution, webhook=WebhookTarget(url, "row-secret-2"))
    gateway.create_session("wa_2")
    scan(evolution, "wa_2")
    [hook] = wait_for(lambda: receiver.events("connection.update", state="open"))
    request = receiver.request_of(hook)
    assert request["path"] == "/api/webhooks/evolution/gw-2/"
    assert request["headers"]["X-Api-Key"] == "row-secret-2"
    assert hook["destination"] == url


def check_recorded_shapes(gateway: str, envelopes: list[dict[str, Any]], *, key: str) -> None:
    """Each envelope has the keys of the payloads recorded from the real gateway
    (tests/fixtures/<gateway>/webhook_*.json: the same event in the same state)."""
    recordings = sorted((FIXTURES / gateway).glob("webhook_*.json"))
    compared = []
    for path in recordings:
        recorded = json.loads(path.read_text())
        if not isinstance(recorded, dict):
            continue
        for envelope in envelopes:
            if envelope["event"] != recorded.get("event"):
                continue
            if not isinstance(recorded.get(key), dict) or not isinstance(envelope.get(key), dict):
                continue
            # Engine data (`_data`) and fields of other states (e.g. `wuid` only when open) vary.
            inner = set(recorded[key]) - {"_data", "wuid", "profileName", "profilePictureUrl"}
            # Compare like with like: the same state, status or ack.
            if any(
                field in recorded[key] and recorded[key][field] != envelope[key].get(field)
                for field in ("state", "status", "ackName")
            ):
                continue
            assert inner <= set(envelope[key]), (path.name, inner - set(envelope[key]))
            assert set(recorded) - {"me", "sender"} <= set(envelope), path.name
            compared.append(path.name)
    assert compared or not recordings, f"no recorded {gateway} webhook of these events"


# --- choosing the dialect ---------------------------------------------------------------------------


def test_it_takes_the_dialect_from_the_environment(monkeypatch):
    monkeypatch.setenv("SIMULATOR_DIALECT", "evolution")
    monkeypatch.setenv("SIMULATOR_VARIANT", "2.2")
    with GatewaySimulator(port=0) as sim:
        assert sim.dialect.describe() == {"name": "evolution", "variant": "2.2"}
    monkeypatch.setenv("SIMULATOR_DIALECT", "gowhatsapp")
    with pytest.raises(ValueError, match="unknown dialect"):
        GatewaySimulator(port=0)
    with pytest.raises(ValueError, match="unknown waha variant"):
        GatewaySimulator(port=0, dialect="waha", variant="WPP")


def test_the_management_command_runs_the_dialect_of_the_environment(monkeypatch):
    from io import StringIO

    from django.core.management import call_command

    seen: dict[str, GatewaySimulator] = {}

    def fake_serve_forever(self: GatewaySimulator) -> None:
        seen["sim"] = self
        raise KeyboardInterrupt

    monkeypatch.setattr(GatewaySimulator, "serve_forever", fake_serve_forever)
    monkeypatch.setattr("signal.signal", lambda *args: None)
    monkeypatch.setenv("SIMULATOR_DIALECT", "waha")
    call_command("run_gateway_simulator", "--port", "0", stdout=StringIO())
    sim = seen["sim"]
    assert sim.dialect.describe() == {"name": "waha", "variant": "WEBJS"}
    assert sim.dialect.global_url(sim) == "http://127.0.0.1:8000/api/webhooks/waha/"


# --- end to end with the CRM's own receivers ----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("dialect", "variant"), [("waha", "GOWS"), ("evolution", "2.3")])
def test_the_crm_follows_the_dialects_webhooks(
    make_sim, settings, live_server, transactional_db, organization, dialect, variant
):
    from sessions_app import services
    from sessions_app.models import WhatsAppSession

    connected, disconnected = WhatsAppSession.Status.CONNECTED, WhatsAppSession.Status.DISCONNECTED
    sim = make_sim(
        dialect,
        variant,
        connect_after=0.5,
        webhook_base=live_server.url,
        webhook_api_key=settings.WEBHOOK_API_KEY,
        webhook_hmac_secret=settings.WEBHOOK_HMAC_SECRET,
    )
    settings.GATEWAY_BACKEND, settings.GATEWAY_URL = dialect, sim.url
    settings.GATEWAY_API_KEY, settings.WAHA_SINGLE_SESSION = API_KEY, False
    session = services.session_create(organization=organization, name=dialect)
    sim.set_phone(session.session_id, PHONE)

    # Nobody polls: the "scan" after 0.5 s reaches the CRM as the gateway's own webhook.
    wait_for(lambda: WhatsAppSession.objects.get(pk=session.pk).status == connected)
    assert WhatsAppSession.objects.get(pk=session.pk).phone_number == PHONE
    sim.disconnect(session.session_id, error="Phone offline")
    wait_for(lambda: WhatsAppSession.objects.get(pk=session.pk).status == disconnected)

    # The CRM took the gateway's "connected" and "disconnected" events (the first "starting"
    # ones may race the session row's commit: an unknown session is answered 404).
    def applied() -> list[int]:
        states = {"WORKING", "FAILED", "open", "close"}
        return [
            d["status"]
            for d in sim.webhook_deliveries()
            if (d["payload"].get("payload") or d["payload"].get("data") or {}).get("status")
            in states
            or (d["payload"].get("data") or {}).get("state") in states
        ]

    assert wait_for(lambda: len(applied()) == 2 and applied()) == [200, 200]


def test_our_protocol_posts_receipts_and_membership_changes(make_sim, receiver):
    sim = make_sim("vps", webhook_base=receiver.url, webhook_api_key=WEBHOOK_KEY)
    group = generate_groups("wa_demo_vps", 30)[0]["id"]
    message_id = sim.send(session_id="wa_demo_vps", to=group, message="x", client_message_id=None)
    control = f"{sim.url}/_control"

    read = {"ack": "read", "participant": "4915100000002"}
    assert requests.post(f"{control}/messages/{message_id}/ack", json=read, timeout=5).ok
    change = {"groupJid": group, "action": "promote", "participants": ["4915100000002"]}
    assert requests.post(f"{control}/sessions/wa_demo_vps/participants", json=change, timeout=5).ok

    wait_for(lambda: len(receiver.received) == 2)
    ack, promoted = (json.loads(r["body"]) for r in receiver.received)
    assert [r["path"] for r in receiver.received] == [
        "/api/webhooks/whatsapp/message-ack/",
        "/api/webhooks/whatsapp/group-participants/",
    ]
    assert ack | {"id": ""} == {
        "event": "message_ack",
        "id": "",
        "sessionId": "wa_demo_vps",
        "messageId": message_id,
        "ack": "read",
        "participant": "4915100000002",
    }
    assert promoted | {"id": ""} == {"event": "group_participants", "id": "", **change} | {
        "sessionId": "wa_demo_vps"
    }
    # Bad control requests change nothing.
    unknown = requests.post(f"{control}/messages/nope/ack", json={"ack": "read"}, timeout=5)
    bad_ack = requests.post(f"{control}/messages/{message_id}/ack", json={"ack": "seen"}, timeout=5)
    bad_action = {**change, "action": "ban"}
    bad = requests.post(f"{control}/sessions/wa_demo_vps/participants", json=bad_action, timeout=5)
    assert (unknown.status_code, bad_ack.status_code, bad.status_code) == (404, 400, 400)
    assert len(receiver.received) == 2
