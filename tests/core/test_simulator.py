"""The gateway simulator: protocol, webhooks, failure injection, WHAPI, and our client against it."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import phonenumbers
import pytest
import requests

from gateway_simulator import GatewaySimulator, generate_groups, generate_whapi_group
from tests.helpers import wait_for

API_KEY = "sim-test-key"
WEBHOOK_KEY = "sim-webhook-key"
HMAC_SECRET = "sim-hmac-secret"
WHAPI_TOKEN = "sim-whapi-token"
AUTH = {"X-API-Key": API_KEY}


class WebhookReceiver:
    """A tiny CRM stand-in that records webhooks and answers with the given statuses, then 200."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append({"path": self.path, "headers": self.headers, "body": body})
                status = receiver.answers.pop(0) if receiver.answers else 200
                answer = json.dumps({"success": status < 400}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def payloads(self, event: str | None = None) -> list[dict[str, Any]]:
        items = [json.loads(r["body"]) for r in list(self.received)]
        return [p for p in items if event is None or p.get("event") == event]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


@pytest.fixture
def make_sim() -> Iterator[Callable[..., GatewaySimulator]]:
    started: list[GatewaySimulator] = []

    def make(**kwargs: Any) -> GatewaySimulator:
        options: dict[str, Any] = {
            "port": 0,
            "api_key": API_KEY,
            "connect_after": 0.3,
            "late_error_delay": 0.1,
        }
        options.update(kwargs)
        sim = GatewaySimulator(**options).start()
        sim.webhook_backoff = 0.01
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: Callable[..., GatewaySimulator]) -> GatewaySimulator:
    return make_sim()


@pytest.fixture
def hooked_sim(
    make_sim: Callable[..., GatewaySimulator], receiver: WebhookReceiver
) -> GatewaySimulator:
    return make_sim(
        webhook_base=receiver.url,
        webhook_api_key=WEBHOOK_KEY,
        webhook_hmac_secret=HMAC_SECRET,
    )


@pytest.fixture
def http() -> Iterator[requests.Session]:
    session = requests.Session()
    session.trust_env = False
    yield session
    session.close()


def connected_session(sim: GatewaySimulator, session_id: str = "s-main") -> str:
    sim.connect(session_id)
    return session_id


# --- auth and session lifecycle ---------------------------------------------------------------------


def test_it_rejects_calls_without_the_right_api_key(sim, http):
    for headers in ({}, {"X-API-Key": "wrong"}):
        response = http.post(f"{sim.url}/sessions", json={"sessionId": "s1"}, headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": "invalid API key"}
    assert http.get(f"{sim.url}/sessions/wa_demo_x/status").status_code == 401


def test_it_connects_a_new_session_after_the_delay_and_posts_a_signed_webhook(
    hooked_sim, receiver, http
):
    response = http.post(f"{hooked_sim.url}/sessions", json={"sessionId": "s1"}, headers=AUTH)
    assert response.status_code == 201
    assert response.json() == {"sessionId": "s1", "status": "connecting"}

    status = http.get(f"{hooked_sim.url}/sessions/s1/status", headers=AUTH).json()
    assert status == {"sessionId": "s1", "status": "connecting", "phoneNumber": None, "error": None}
    qr = http.get(f"{hooked_sim.url}/sessions/s1/qr", headers=AUTH)
    assert qr.status_code == 200
    assert qr.json()["qr"].startswith("sim-qr|s1|")

    # Nobody polls: the ticker connects the session and posts the webhook on its own.
    [hook] = wait_for(lambda: receiver.payloads("session_status"))
    assert hook["sessionId"] == "s1"
    assert hook["status"] == "connected"
    assert hook["phoneNumber"].startswith("49151")
    assert len(hook["phoneNumber"]) == 13
    assert hook["error"] is None
    assert hook["id"]
    request = receiver.received[0]
    assert request["path"] == "/api/webhooks/whatsapp/status/"
    assert request["headers"]["X-API-Key"] == WEBHOOK_KEY
    expected = hmac.new(HMAC_SECRET.encode(), request["body"], hashlib.sha512).hexdigest()
    assert request["headers"]["X-Webhook-Hmac"] == expected

    status = http.get(f"{hooked_sim.url}/sessions/s1/status", headers=AUTH).json()
    assert status["status"] == "connected"
    assert status["phoneNumber"] == hook["phoneNumber"]
    assert http.get(f"{hooked_sim.url}/sessions/s1/qr", headers=AUTH).status_code == 404
    delivery = wait_for(hooked_sim.webhook_deliveries)[0]
    assert delivery["status"] == 200
    assert delivery["attempts"] == 1


def test_it_answers_404_for_unknown_sessions(sim, http):
    for path in ("/sessions/nope/status", "/sessions/nope/qr", "/sessions/nope/groups"):
        response = http.get(f"{sim.url}{path}", headers=AUTH)
        assert response.status_code == 404
        assert "error" in response.json()
    assert http.delete(f"{sim.url}/sessions/nope", headers=AUTH).status_code == 404


def test_it_logs_out_a_session_and_reports_it(hooked_sim, receiver, http):
    session_id = connected_session(hooked_sim)
    response = http.delete(f"{hooked_sim.url}/sessions/{session_id}", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {"sessionId": session_id, "status": "disconnected"}

    status = http.get(f"{hooked_sim.url}/sessions/{session_id}/status", headers=AUTH).json()
    assert status["status"] == "disconnected"
    assert status["error"] is None
    assert http.get(f"{hooked_sim.url}/sessions/{session_id}/qr", headers=AUTH).status_code == 404
    hooks = wait_for(lambda: len(receiver.payloads()) >= 2 and receiver.payloads())
    assert [h["status"] for h in hooks] == ["connected", "disconnected"]


def test_it_disconnects_a_session_on_the_control_endpoint(hooked_sim, receiver, http):
    session_id = connected_session(hooked_sim)
    response = http.post(
        f"{hooked_sim.url}/_control/sessions/{session_id}/disconnect",
        json={"error": "Phone offline"},
    )
    assert response.status_code == 200
    status = http.get(f"{hooked_sim.url}/sessions/{session_id}/status", headers=AUTH).json()
    assert status["status"] == "disconnected"
    assert status["error"] == "Phone offline"
    hook = wait_for(lambda: receiver.payloads()[1:])[0]
    assert hook["status"] == "disconnected"
    assert hook["error"] == "Phone offline"


def test_it_restarts_an_existing_session_with_a_new_qr(sim, http):
    session_id = connected_session(sim)
    response = http.post(f"{sim.url}/sessions", json={"sessionId": session_id}, headers=AUTH)
    assert response.status_code == 200
    assert response.json()["status"] == "connecting"
    assert http.get(f"{sim.url}/sessions/{session_id}/qr", headers=AUTH).status_code == 200
    wait_for(
        lambda: (
            http.get(f"{sim.url}/sessions/{session_id}/status", headers=AUTH).json()["status"]
            == "connected"
        )
    )


def test_it_only_connects_on_the_control_call_when_connect_after_is_zero(make_sim, http):
    sim = make_sim(connect_after=0)
    http.post(f"{sim.url}/sessions", json={"sessionId": "manual"}, headers=AUTH)
    http.post(f"{sim.url}/_control/sessions/manual/phone", json={"phoneNumber": "4917012345678"})
    time.sleep(0.4)
    status = http.get(f"{sim.url}/sessions/manual/status", headers=AUTH).json()
    assert status["status"] == "connecting"

    assert http.post(f"{sim.url}/_control/sessions/manual/connect").status_code == 200
    status = http.get(f"{sim.url}/sessions/manual/status", headers=AUTH).json()
    assert status["status"] == "connected"
    assert status["phoneNumber"] == "4917012345678"

    sim.connect("manual", phone_number="4916012345678")  # re-linked with another phone
    status = http.get(f"{sim.url}/sessions/manual/status", headers=AUTH).json()
    assert status["phoneNumber"] == "4916012345678"


def test_it_has_demo_sessions_connected_from_the_start(sim, make_sim, http):
    status = http.get(f"{sim.url}/sessions/wa_demo_main/status", headers=AUTH).json()
    assert status["status"] == "connected"
    assert status["phoneNumber"].startswith("49151")
    groups = http.get(f"{sim.url}/sessions/wa_demo_main/groups", headers=AUTH).json()["groups"]
    assert len(groups) == 30 + 5  # and the 5 demo artists' fan groups (demo_data.py)
    normal = next(g["id"] for g in groups if not g["isCommunity"])
    send = {"sessionId": "wa_demo_main", "to": normal, "message": "Hi"}
    assert http.post(f"{sim.url}/send", json=send, headers=AUTH).status_code == 200

    # A restarted simulator knows the same demo session, number and groups.
    restarted = make_sim()
    again = http.get(f"{restarted.url}/sessions/wa_demo_main/status", headers=AUTH).json()
    assert again == status
    url = f"{restarted.url}/sessions/wa_demo_main/groups"
    assert http.get(url, headers=AUTH).json()["groups"] == groups


def test_it_rejects_bad_session_bodies(sim, http):
    for body in (b"{not json", b"[]", b"{}", json.dumps({"sessionId": "a/b"}).encode()):
        response = http.post(
            f"{sim.url}/sessions",
            data=body,
            headers={**AUTH, "Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert response.json()["error"]


# --- groups ----------------------------------------------------------------------------------------


def test_it_lists_thirty_groups_with_two_parents_and_three_announcement_groups(sim, http):
    session_id = connected_session(sim)
    response = http.get(f"{sim.url}/sessions/{session_id}/groups", headers=AUTH)
    assert response.status_code == 200
    groups = response.json()["groups"]
    assert len(groups) == 30
    assert len({g["id"] for g in groups}) == 30
    parents = [g for g in groups if g["isCommunity"]]
    announce = [g for g in groups if g["isCommunityAnnounce"]]
    normal = [g for g in groups if not g["isCommunity"] and not g["isCommunityAnnounce"]]
    assert len(parents) == 2
    assert len(announce) == 3
    assert len(normal) == 25
    parent_ids = {p["id"] for p in parents}
    assert all(a["linkedParent"] in parent_ids for a in announce)
    assert all(g["linkedParent"] is None for g in normal + parents)
    for group in groups:
        assert group["id"].startswith("120363")
        assert group["id"].endswith("@g.us")
        assert len(group["id"].removesuffix("@g.us")) == 18
        assert group["subject"]
        assert isinstance(group["size"], int)
        assert group["size"] > 0
    # Deterministic: the same session id always gives the same groups.
    assert groups == generate_groups(session_id, 30)
    assert "Tour Crew 2026" in {g["subject"] for g in groups}


def test_it_answers_503_for_groups_when_not_connected(sim, http):
    http.post(f"{sim.url}/sessions", json={"sessionId": "fresh"}, headers=AUTH)
    response = http.get(f"{sim.url}/sessions/fresh/groups", headers=AUTH)
    assert response.status_code == 503
    assert response.json() == {"error": "Session not connected"}


def test_it_generates_many_groups_and_replaces_a_list(sim, http):
    session_id = connected_session(sim)
    sim.set_groups(session_id, count=5000)
    groups = http.get(f"{sim.url}/sessions/{session_id}/groups", headers=AUTH).json()["groups"]
    assert len(groups) == 5000
    assert len({g["id"] for g in groups}) == 5000
    assert sum(g["isCommunity"] for g in groups) == 2
    assert sum(g["isCommunityAnnounce"] for g in groups) == 3

    given = [
        {
            "id": "120363000000000001@g.us",
            "subject": "Twice",
            "size": 3,
            "isCommunity": False,
            "isCommunityAnnounce": False,
            "linkedParent": None,
        }
    ] * 2
    http.post(f"{sim.url}/_control/sessions/{session_id}/groups", json={"groups": given})
    groups = http.get(f"{sim.url}/sessions/{session_id}/groups", headers=AUTH).json()["groups"]
    assert groups == given


# --- sending ---------------------------------------------------------------------------------------


def test_it_sends_and_records_messages(sim, http):
    session_id = connected_session(sim)
    body = {"sessionId": session_id, "to": "120363000000000009@g.us", "message": "Hello"}
    first = http.post(f"{sim.url}/send", json={**body, "clientMessageId": "c1"}, headers=AUTH)
    again = http.post(f"{sim.url}/send", json={**body, "clientMessageId": "c1"}, headers=AUTH)
    assert first.status_code == again.status_code == 200
    assert first.json()["messageId"].startswith("sim_")
    # Not idempotent: the same clientMessageId is a second message.
    assert first.json()["messageId"] != again.json()["messageId"]
    sends = sim.sends()
    assert [s["messageId"] for s in sends] == [first.json()["messageId"], again.json()["messageId"]]
    assert sends[0]["to"] == body["to"]
    assert sends[0]["message"] == "Hello"
    assert sends[0]["clientMessageId"] == "c1"
    assert sends[0]["sessionId"] == session_id
    assert http.get(f"{sim.url}/_control/sends").json()["sends"] == sends


def test_it_refuses_sends_it_cannot_deliver(sim, http):
    http.post(f"{sim.url}/sessions", json={"sessionId": "fresh"}, headers=AUTH)
    body = {"sessionId": "fresh", "to": "1@g.us", "message": "Hi", "clientMessageId": "c"}
    response = http.post(f"{sim.url}/send", json=body, headers=AUTH)
    assert response.status_code == 503
    assert response.json() == {"error": "Session not connected"}
    response = http.post(f"{sim.url}/send", json={**body, "sessionId": "nope"}, headers=AUTH)
    assert response.status_code == 404
    for bad in ({"sessionId": "fresh", "to": "1@g.us"}, {**body, "to": "no-jid"}):
        response = http.post(f"{sim.url}/send", json=bad, headers=AUTH)
        assert response.status_code == 400
        assert response.json()["error"]
    assert sim.sends() == []


def test_it_deduplicates_sends_by_client_message_id_when_idempotent(make_sim, http):
    sim = make_sim(idempotent=True)
    session_id = connected_session(sim)
    body = {"sessionId": session_id, "to": "1@g.us", "message": "Hi", "clientMessageId": "c1"}
    first = http.post(f"{sim.url}/send", json=body, headers=AUTH).json()["messageId"]
    again = http.post(f"{sim.url}/send", json=body, headers=AUTH).json()["messageId"]
    other = http.post(
        f"{sim.url}/send", json={**body, "clientMessageId": "c2"}, headers=AUTH
    ).json()["messageId"]
    assert first == again != other
    assert len(sim.sends()) == 2


def test_it_reports_late_420_errors_for_community_parents_and_rejected_jids(
    hooked_sim, receiver, http
):
    session_id = connected_session(hooked_sim)
    groups = http.get(f"{hooked_sim.url}/sessions/{session_id}/groups", headers=AUTH).json()
    parent = next(g["id"] for g in groups["groups"] if g["isCommunity"])
    normal = next(g["id"] for g in groups["groups"] if not g["isCommunity"])
    rejected = "120363999999999999@g.us"
    http.post(f"{hooked_sim.url}/_control/reject", json={"jid": rejected})

    ids = {}
    for to in (parent, rejected, normal):
        body = {"sessionId": session_id, "to": to, "message": "Hi", "clientMessageId": to}
        response = http.post(f"{hooked_sim.url}/send", json=body, headers=AUTH)
        assert response.status_code == 200  # accepted first, refused later
        ids[to] = response.json()["messageId"]

    errors = wait_for(lambda: len(receiver.payloads("message_error")) >= 2 and receiver.payloads())
    errors = [p for p in errors if p["event"] == "message_error"]
    by_jid = {e["groupJid"]: e for e in errors}
    assert set(by_jid) == {parent, rejected}
    assert by_jid[parent]["messageId"] == ids[parent]
    assert by_jid[parent]["errorCode"] == 420
    assert by_jid[parent]["errorMessage"] == "Not allowed to send to a community parent group"
    assert by_jid[rejected]["errorMessage"] == "Message rejected by WhatsApp"
    assert by_jid[rejected]["sessionId"] == session_id
    assert by_jid[parent]["id"] != by_jid[rejected]["id"]
    paths = {r["path"] for r in receiver.received}
    assert "/api/webhooks/whatsapp/message-error/" in paths
    time.sleep(0.3)
    assert len(receiver.payloads("message_error")) == 2


# --- webhook delivery ------------------------------------------------------------------------------


def test_it_retries_webhooks_the_crm_asks_to_retry(hooked_sim, receiver):
    receiver.answers = [409, 200]  # the CRM's "retry": true (e.g. it could not apply it yet)
    hooked_sim.connect("s1")
    delivery = wait_for(hooked_sim.webhook_deliveries)[0]
    assert delivery["status"] == 200
    assert delivery["attempts"] == 2


def test_it_retries_webhooks_on_5xx_but_not_on_4xx(hooked_sim, receiver):
    receiver.answers = [500, 502, 200, 404]
    hooked_sim.connect("s1")
    delivery = wait_for(hooked_sim.webhook_deliveries)[0]
    assert delivery["status"] == 200
    assert delivery["attempts"] == 3
    assert len({json.loads(r["body"])["id"] for r in receiver.received}) == 1  # same event id

    hooked_sim.disconnect("s1")
    delivery = wait_for(lambda: hooked_sim.webhook_deliveries()[1:])[0]
    assert delivery["status"] == 404
    assert delivery["attempts"] == 1


def test_it_keeps_serving_when_the_crm_is_down(make_sim, http):
    receiver = WebhookReceiver()
    down = receiver.url
    receiver.close()
    sim = make_sim(webhook_base=down, webhook_api_key=WEBHOOK_KEY)
    sim.connect("s1")
    delivery = wait_for(sim.webhook_deliveries)[0]
    assert delivery["status"] is None
    assert delivery["error"]
    assert delivery["attempts"] == 4
    assert http.get(f"{sim.url}/sessions/s1/status", headers=AUTH).json()["status"] == "connected"


# --- failure injection -----------------------------------------------------------------------------


def test_it_injects_http_errors_a_given_number_of_times(sim, http):
    session_id = connected_session(sim)
    sim.add_failure(path="^/send$", status=500, times=1)
    sim.add_failure(path="/groups$", method="GET", status=503, body={"error": "Busy"}, times=-1)
    body = {"sessionId": session_id, "to": "1@g.us", "message": "Hi", "clientMessageId": "c"}

    failed = http.post(f"{sim.url}/send", json=body, headers=AUTH)
    assert failed.status_code == 500
    assert failed.json()["error"]
    assert http.post(f"{sim.url}/send", json=body, headers=AUTH).status_code == 200
    for _ in range(3):
        response = http.get(f"{sim.url}/sessions/{session_id}/groups", headers=AUTH)
        assert response.status_code == 503
        assert response.json() == {"error": "Busy"}

    assert http.delete(f"{sim.url}/_control/failures").status_code == 200
    assert http.get(f"{sim.url}/sessions/{session_id}/groups", headers=AUTH).status_code == 200


def test_it_injects_non_json_answers_through_the_control_endpoint(sim, http):
    rule = {"path": "/status$", "status": 502, "body": "<html>Bad Gateway</html>", "times": 1}
    assert http.post(f"{sim.url}/_control/failures", json=rule).status_code == 200
    response = http.get(f"{sim.url}/sessions/wa_demo_main/status", headers=AUTH)
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert response.text == "<html>Bad Gateway</html>"


def test_it_delays_answers_until_the_client_times_out(sim, http):
    sim.add_failure(path="^/sessions/wa_demo_main/status$", status=None, delay=0.6)
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.get(f"{sim.url}/sessions/wa_demo_main/status", headers=AUTH, timeout=0.2)
    started = time.monotonic()
    response = http.get(f"{sim.url}/sessions/wa_demo_main/status", headers=AUTH, timeout=2)
    assert response.status_code == 200
    assert time.monotonic() - started < 0.5


def test_it_drops_the_connection_for_status_zero(sim, http):
    sim.add_failure(path="^/send$", status=0)
    body = {"sessionId": "wa_demo_main", "to": "1@g.us", "message": "Hi", "clientMessageId": "c"}
    with pytest.raises(requests.exceptions.ConnectionError):
        http.post(f"{sim.url}/send", json=body, headers=AUTH)
    assert http.post(f"{sim.url}/send", json=body, headers=AUTH).status_code == 200


def test_it_signals_a_request_when_it_arrives_before_the_delay_is_served(sim, http):
    sim.add_failure(path="^/send$", method="POST", status=None, delay=1.0)
    body = {"sessionId": "wa_demo_main", "to": "1@g.us", "message": "Hi", "clientMessageId": "c"}
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(http.post, f"{sim.url}/send", json=body, headers=AUTH, timeout=5)
        request = sim.wait_for_request("^/send$", method="post", timeout=5)
        waited = time.monotonic() - started
        assert not answer.done()  # the client still waits for the delayed answer
        assert sim.sends() == []
        assert answer.result().status_code == 200
    assert waited < 0.8
    assert request["method"] == "POST"
    assert request["path"] == "/send"
    # Requests that already arrived count; other methods and paths do not.
    assert sim.wait_for_request("^/send$", timeout=0)["path"] == "/send"
    with pytest.raises(TimeoutError):
        sim.wait_for_request("^/send$", method="GET", timeout=0.1)
    with pytest.raises(TimeoutError):
        sim.wait_for_request("^/send$", count=2, timeout=0.1)
    assert [r["path"] for r in http.get(f"{sim.url}/_control/requests").json()["requests"]] == [
        "/send"
    ]  # control calls are not logged
    sim.reset()
    assert sim.requests() == []


def test_it_serves_control_endpoints_to_loopback_only(sim):
    response = sim.handle("GET", "/_control/state", {}, b"", "10.1.2.3")
    assert response.status == 403
    assert sim.handle("GET", "/_control/state", {}, b"", "127.0.0.1").status == 200


def test_it_reports_state_and_resets(sim, http):
    connected_session(sim, "s1")
    sim.reject_jid("1@g.us")
    sim.add_failure(path="^/send$", status=500, times=2)
    state = http.get(f"{sim.url}/_control/state").json()
    assert state["sessions"] == [
        {
            "sessionId": "s1",
            "status": "connected",
            "phoneNumber": state["sessions"][0]["phoneNumber"],
            "error": None,
            "groups": 30,
        }
    ]
    assert state["rejectedJids"] == ["1@g.us"]
    assert state["failures"][0]["times"] == 2

    assert http.post(f"{sim.url}/_control/reset").status_code == 200
    state = http.get(f"{sim.url}/_control/state").json()
    assert state["sessions"] == []
    assert state["failures"] == []
    assert state["sends"] == 0
    assert http.get(f"{sim.url}/sessions/s1/status", headers=AUTH).status_code == 404


# --- WHAPI ------------------------------------------------------------------------------------------


def test_it_serves_deterministic_whapi_group_members(make_sim, http):
    sim = make_sim(whapi_token=WHAPI_TOKEN)
    bearer = {"Authorization": f"Bearer {WHAPI_TOKEN}"}
    assert http.get(f"{sim.whapi_url}/groups/120363111@g.us").status_code == 401

    response = http.get(f"{sim.whapi_url}/groups/120363111@g.us", headers=bearer)
    assert response.status_code == 200
    group = response.json()
    assert group["id"] == "120363111@g.us"
    assert group["name"]
    assert http.get(f"{sim.whapi_url}/groups/120363111@g.us", headers=bearer).json() == group
    participants = group["participants"]
    assert len(participants) == 40
    assert [p["rank"] for p in participants].count("creator") == 1
    assert [p["rank"] for p in participants].count("admin") == 2
    lids = [p["id"] for p in participants if p["id"].endswith("@lid")]
    assert len(lids) == 2
    phones = [p["id"] for p in participants if not p["id"].endswith("@lid")]
    assert len(set(phones)) == 38
    for phone in phones:
        assert phone.isdigit()
        assert phonenumbers.is_valid_number(phonenumbers.parse("+" + phone)), phone
    assert sum(phone.startswith("49") for phone in phones) > len(phones) / 2


def test_it_shares_some_members_between_groups():
    first = {p["id"] for p in generate_whapi_group("120363000000000101")["participants"]}
    second = {p["id"] for p in generate_whapi_group("120363000000000202")["participants"]}
    third = {p["id"] for p in generate_whapi_group("120363000000000303")["participants"]}
    assert first != second
    assert (first & second) or (first & third) or (second & third)


def test_it_serves_a_configured_whapi_group(sim, http):
    members = [{"id": "4915112345678", "rank": "creator"}, {"id": "1234@lid", "rank": "member"}]
    response = http.post(
        f"{sim.url}/_control/whapi/groups/120363555",
        json={"name": "Nova Lights Fans", "participants": members},
    )
    assert response.status_code == 200
    group = http.get(f"{sim.whapi_url}/groups/120363555@g.us").json()
    assert group == {"id": "120363555@g.us", "name": "Nova Lights Fans", "participants": members}


def test_it_rate_limits_whapi_every_nth_request(sim, http):
    sim.configure_whapi(rate_limit_every=3)
    statuses = [http.get(f"{sim.whapi_url}/groups/{n}@g.us") for n in range(1, 7)]
    assert [r.status_code for r in statuses] == [200, 200, 429, 200, 200, 429]
    assert statuses[2].headers["Retry-After"] == "1"
    assert statuses[2].json() == {"error": "Too many requests"}


def test_it_adds_whapi_latency_without_serializing_requests(sim):
    http_post = requests.post
    assert http_post(f"{sim.url}/_control/whapi/config", json={"latency_ms": 200}).ok

    def fetch(n: int) -> int:
        return requests.get(f"{sim.whapi_url}/groups/{n}@g.us", timeout=5).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(fetch, range(8)))
    elapsed = time.monotonic() - started
    assert statuses == [200] * 8
    assert 0.2 <= elapsed < 1.0  # 8 × 200 ms one after another would take 1.6 s


def test_it_applies_failure_rules_to_whapi(sim, http):
    sim.add_failure(path="^/whapi/groups/77@g.us$", status=404, body={"error": "not found"})
    assert http.get(f"{sim.whapi_url}/groups/77@g.us").status_code == 404
    assert http.get(f"{sim.whapi_url}/groups/77@g.us").status_code == 200


# --- our gateway client against the simulator -------------------------------------------------------


@pytest.fixture
def gateway(sim):
    from whatsapp_crm.gateway import VpsGateway

    return VpsGateway(base_url=sim.url, api_key=API_KEY, timeout=2.0)


def test_it_works_with_the_gateway_client(sim, gateway):
    created = gateway.create_session("client-1")
    assert created.status == "connecting"
    assert gateway.get_qr("client-1").startswith("sim-qr|client-1|")
    status = wait_for(lambda: (s := gateway.get_status("client-1")).status == "connected" and s)
    assert status.phone_number
    assert status.error is None
    assert gateway.get_qr("client-1") is None

    groups = gateway.list_groups("client-1")
    assert len(groups) == 30
    assert sum(g.is_community for g in groups) == 2
    assert sum(g.is_community_announce for g in groups) == 3
    normal = next(g for g in groups if not g.is_community and not g.is_community_announce)
    message_id = gateway.send_message(
        session_id="client-1", to=normal.jid, message="Hello", client_message_id="c-1"
    )
    assert sim.sends()[0]["messageId"] == message_id

    gateway.delete_session("client-1")
    assert gateway.get_status("client-1").status == "disconnected"


def test_it_gives_the_gateway_client_classifiable_errors(sim, gateway):
    from whatsapp_crm.gateway import GatewayError, VpsGateway

    gateway.create_session("client-2")
    send = {"session_id": "client-2", "to": "1@g.us", "message": "Hi", "client_message_id": "c"}
    with pytest.raises(GatewayError) as not_connected:
        gateway.send_message(**send)
    assert not_connected.value.status_code == 503
    assert not not_connected.value.permanent
    assert not_connected.value.code == "not_connected"

    with pytest.raises(GatewayError) as unknown:
        gateway.get_status("nope")
    assert unknown.value.status_code == 404
    assert unknown.value.permanent

    with pytest.raises(GatewayError) as unauthorized:
        VpsGateway(base_url=sim.url, api_key="wrong", timeout=2.0).get_status("wa_demo_main")
    assert unauthorized.value.status_code == 401
    assert not unauthorized.value.permanent  # our key is wrong, not the request

    send["session_id"] = "wa_demo_main"
    sim.add_failure(path="^/send$", status=500)
    with pytest.raises(GatewayError) as server_error:
        gateway.send_message(**send)
    assert server_error.value.status_code == 500
    assert server_error.value.ambiguous

    sim.add_failure(path="^/send$", status=0)
    with pytest.raises(GatewayError) as dropped:
        gateway.send_message(**send)
    assert dropped.value.ambiguous
    assert not dropped.value.permanent

    sim.add_failure(path="^/send$", status=None, delay=0.6)
    with pytest.raises(GatewayError) as timed_out:
        VpsGateway(base_url=sim.url, api_key=API_KEY, timeout=0.2).send_message(**send)
    assert timed_out.value.code == "timeout"
    assert timed_out.value.ambiguous


def test_it_reports_an_unreachable_gateway_to_the_client(make_sim):
    from whatsapp_crm.gateway import GatewayError, VpsGateway

    sim = make_sim()
    url = sim.url
    sim.stop()
    with pytest.raises(GatewayError) as unreachable:
        VpsGateway(base_url=url, api_key=API_KEY, timeout=1.0).get_status("wa_demo_main")
    assert unreachable.value.code == "unreachable"
    assert not unreachable.value.ambiguous


# --- management command ----------------------------------------------------------------------------


def test_it_runs_from_the_management_command(monkeypatch):
    from django.conf import settings

    if not settings.configured:
        pytest.skip("Django settings are not configured")
    from io import StringIO

    from django.core.management import call_command

    seen: dict[str, GatewaySimulator] = {}

    def fake_serve_forever(self: GatewaySimulator) -> None:
        seen["sim"] = self
        raise KeyboardInterrupt

    monkeypatch.setattr(GatewaySimulator, "serve_forever", fake_serve_forever)
    monkeypatch.setattr("signal.signal", lambda *args: None)
    out = StringIO()
    call_command("run_gateway_simulator", "--port", "0", "--connect-after", "1.5", stdout=out)
    sim = seen["sim"]
    assert sim.api_key == settings.GATEWAY_API_KEY
    assert sim.webhook_api_key == settings.WEBHOOK_API_KEY
    assert sim.webhook_base == "http://127.0.0.1:8000"
    assert sim.connect_after == 1.5
    assert sim.idempotent == settings.GATEWAY_SEND_IDEMPOTENT
    text = out.getvalue()
    assert sim.url in text
    assert sim.whapi_url in text
    assert "/_control/reject" in text
    assert "/disconnect" in text
    assert "stopped" in text
