"""A stand-in for the WhatsApp gateway (the "VPS") and for WHAPI, for demos, tests and benchmarks.

It speaks the gateway protocol of INTERFACE.md §4 over real HTTP, posts the webhooks of §5 back
to the CRM and serves WHAPI's group-member endpoint under `/whapi`. Everything is deterministic
(session phone numbers, group lists, group members) so demo data survives restarts, and every
awkward behaviour of the real services can be switched on through `/_control/...` endpoints or
the matching methods: disconnects, late 420 errors, failures, timeouts, resets, rate limits.

Standard library only and no Django import, so it also runs standalone:
    python -m whatsapp_crm.simulator --port 9100 --webhook-base http://127.0.0.1:8000
See docs/gateway-simulator.md.
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import hmac
import json
import queue
import random
import re
import socket
import struct
import sys
import threading
import time
import traceback
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import unquote, urlsplit

QR_ROTATE_SECONDS = 5.0
TICK_SECONDS = 0.2
WEBHOOK_TIMEOUT_SECONDS = 5.0
WEBHOOK_RETRIES = 3  # after the first attempt
WEBHOOK_BACKOFF_SECONDS = 0.2
DEMO_SESSION_PREFIX = "wa_demo"
STATUS_WEBHOOK_PATH = "/api/webhooks/whatsapp/status/"
MESSAGE_ERROR_WEBHOOK_PATH = "/api/webhooks/whatsapp/message-error/"
COMMUNITY_PARENT_ERROR = "Not allowed to send to a community parent group"
REJECTED_JID_ERROR = "Message rejected by WhatsApp"
LATE_ERROR_CODE = 420

# --- deterministic demo data ----------------------------------------------------------------------

_COMMUNITY_SUBJECTS = ["Nova Lights Community", "Echo Harbour Community"]
_GROUP_SUBJECTS = [
    "Tour Crew 2026",
    "Fan Club Berlin",
    "Fan Club Hamburg",
    "Fan Club München",
    "Fan Club Wien",
    "Fan Club Zürich",
    "Backstage Team",
    "Merch Squad",
    "VIP Ticket Holders",
    "Street Team Köln",
    "Press & Media",
    "Festival Volunteers",
    "Meet & Greet Winners",
    "Ticket Swap",
    "Vinyl Collectors",
    "Support Act Crew",
    "Lighting & Sound",
    "Fan Club Amsterdam",
    "Presale Alerts",
    "Choir Project",
    "Fan Club Leipzig",
    "Bus Travel Frankfurt",
]
_ARTIST_NAMES = [
    "Nova Lights",
    "Echo Harbour",
    "Mira Sol",
    "The Paper Kites Tribute",
    "Lena Marlen",
    "Kaskade Brothers",
    "Jonas Feld",
    "Aurora Bay",
]
# (prefix, digits after it): valid mobile ranges, mostly German.
_PHONE_PLANS = [
    ("49151", 8),
    ("49151", 8),
    ("49160", 7),
    ("49160", 8),
    ("49170", 7),
    ("49170", 8),
    ("49176", 8),
    ("49157", 8),
    ("43664", 7),
    ("4179", 7),
    ("3161", 7),
]
WHAPI_MEMBERS_PER_GROUP = 40
WHAPI_PRIVACY_IDS_PER_GROUP = 2
WHAPI_SHARED_PER_GROUP = 3


def _digits(seed: str, length: int) -> str:
    value = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:16], "big")
    return str(value % 10**length).zfill(length)


def demo_phone_number(session_id: str) -> str:
    """The phone number a session connects with unless one was set: "49151" + 8 digits."""
    return "49151" + _digits(f"phone:{session_id}", 8)


def _group_jid(session_id: str, index: int) -> str:
    return f"120363{_digits(f'group:{session_id}:{index}', 12)}@g.us"


def generate_groups(session_id: str, count: int) -> list[dict[str, Any]]:
    """`count` protocol-shaped groups: 2 community parents, 3 announcement groups, the rest normal.

    Group number i is the same whatever `count` is, so growing a session's list keeps its groups.
    The order is shuffled (deterministically), as a real gateway lists groups in no useful order.
    """
    groups: list[dict[str, Any]] = []
    parents: list[dict[str, Any]] = []
    for index in range(max(0, count)):
        jid = _group_jid(session_id, index)
        size_seed = int(_digits(f"size:{session_id}:{index}", 6))
        if index < 2:
            group = {
                "id": jid,
                "subject": _COMMUNITY_SUBJECTS[index],
                "size": 150 + size_seed % 850,
                "isCommunity": True,
                "isCommunityAnnounce": False,
                "linkedParent": None,
            }
            parents.append(group)
        elif index < 5 and parents:
            parent = parents[(index - 2) % len(parents)]
            group = {
                "id": jid,
                "subject": parent["subject"].removesuffix(" Community")
                + (" Announcements" if index < 4 else " News"),
                "size": max(2, parent["size"] - size_seed % 20),
                "isCommunity": False,
                "isCommunityAnnounce": True,
                "linkedParent": parent["id"],
            }
        else:
            normal = index - 5
            subject = (
                _GROUP_SUBJECTS[normal]
                if normal < len(_GROUP_SUBJECTS)
                else f"Demo Group {normal + 1:02d}"
            )
            group = {
                "id": jid,
                "subject": subject,
                "size": 3 + size_seed % 254,
                "isCommunity": False,
                "isCommunityAnnounce": False,
                "linkedParent": None,
            }
        groups.append(group)
    random.Random(f"layout:{session_id}").shuffle(groups)
    return groups


def _phone(rng: random.Random) -> str:
    prefix, length = rng.choice(_PHONE_PLANS)
    first = str(rng.randint(1, 9))  # no leading zero in the subscriber number
    return prefix + first + "".join(str(rng.randint(0, 9)) for _ in range(length - 1))


# A few fans are members of several artists' groups, so a phone lookup finds more than one artist.
_SHARED_MEMBERS = [_phone(random.Random(f"shared-fan:{n}")) for n in range(8)]


def generate_whapi_group(group_id: str) -> dict[str, Any]:
    """WHAPI's answer for a group nobody configured: 40 deterministic members of the group.

    1 creator, 2 admins, the rest members; 2 are privacy ids ("<digits>@lid"); 3 come from a small
    pool shared by all groups.
    """
    group_id = group_id.removesuffix("@g.us")
    rng = random.Random(f"whapi:{group_id}")
    name = f"{rng.choice(_ARTIST_NAMES)} – {rng.choice(['Fans', 'Crew', 'Insiders', 'Fan Club'])}"
    phones: list[str] = rng.sample(_SHARED_MEMBERS, WHAPI_SHARED_PER_GROUP)
    seen = set(phones)
    while len(phones) < WHAPI_MEMBERS_PER_GROUP - WHAPI_PRIVACY_IDS_PER_GROUP:
        phone = _phone(rng)
        if phone not in seen:
            seen.add(phone)
            phones.append(phone)
    rng.shuffle(phones)
    ids = phones[:]
    for _ in range(WHAPI_PRIVACY_IDS_PER_GROUP):
        # Privacy ids never take the creator/admin slots, so those always have a phone number.
        ids.insert(rng.randint(3, len(ids)), f"{rng.randrange(10**14, 10**15)}@lid")
    ranks = ["creator", "admin", "admin"] + ["member"] * (len(ids) - 3)
    return {
        "id": f"{group_id}@g.us",
        "name": name,
        "participants": [{"id": pid, "rank": rank} for pid, rank in zip(ids, ranks, strict=True)],
    }


# --- state -----------------------------------------------------------------------------------------


@dataclass
class _Session:
    session_id: str
    status: str
    phone_number: str | None = None
    error: str | None = None
    connect_due: float | None = None
    qr_started_at: float = field(default_factory=time.monotonic)

    def as_status(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "status": self.status,
            "phoneNumber": self.phone_number,
            "error": self.error,
        }


@dataclass
class _FailureRule:
    path: re.Pattern[str]
    status: int | None
    method: str | None
    body: Any
    times: int
    delay: float

    def describe(self) -> dict[str, Any]:
        return {
            "path": self.path.pattern,
            "status": self.status,
            "method": self.method,
            "body": self.body,
            "times": self.times,
            "delay": self.delay,
        }


@dataclass
class _Response:
    status: int
    body: Any = None  # dict/list → JSON, str → raw text/html, None → no answer at all (status 0)
    headers: dict[str, str] = field(default_factory=dict)


class _BadRequest(Exception):
    pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], simulator: GatewaySimulator) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.simulator = simulator
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # the client went away (e.g. its timeout fired): nothing to report
        super().handle_error(request, client_address)


class GatewaySimulator:
    """The gateway + WHAPI simulator. `start()` serves in background threads; see module docs."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 9100,
        api_key: str = "dev-gateway-key",
        webhook_base: str | None = None,
        webhook_api_key: str | None = None,
        webhook_hmac_secret: str | None = None,
        whapi_token: str | None = None,
        connect_after: float = 3.0,
        late_error_delay: float = 1.0,
        idempotent: bool = False,
        groups_per_session: int = 30,
        quiet: bool = True,
    ) -> None:
        self.host = host
        self.api_key = api_key
        self.webhook_base = webhook_base.rstrip("/") if webhook_base else None
        self.webhook_api_key = webhook_api_key
        self.webhook_hmac_secret = webhook_hmac_secret or None
        self.whapi_token = whapi_token or None
        self.connect_after = connect_after
        self.late_error_delay = late_error_delay
        self.idempotent = idempotent
        self.groups_per_session = groups_per_session
        self.quiet = quiet
        self.webhook_backoff = WEBHOOK_BACKOFF_SECONDS  # tests shorten it

        self._lock = threading.Lock()
        # Bumped by reset(), so deliveries queued before it are forgotten.
        self._generation = 0
        self._init_state()

        self._stopping = threading.Event()
        self._wakeup = threading.Event()
        self._webhook_queue: queue.Queue[tuple[int, str, dict[str, Any]] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._serving = False
        self._connections: set[socket.socket] = set()
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

        # Bound now, so `url` is real (port=0 → a free port) before start().
        self._server = _Server((host, port), self)

    def _init_state(self) -> None:
        self._sessions: dict[str, _Session] = {}
        self._preset_phones: dict[str, str] = {}
        self._groups: dict[str, list[dict[str, Any]]] = {}
        self._parent_jids: dict[str, frozenset[str]] = {}
        self._rejected: set[str] = set()
        self._failures: list[_FailureRule] = []
        self._sends: list[dict[str, Any]] = []
        self._sent_by_client_id: dict[tuple[str, str], str] = {}
        self._late_errors: list[tuple[float, int, dict[str, Any]]] = []
        self._late_seq = 0
        self._deliveries: list[dict[str, Any]] = []
        self._whapi_groups: dict[str, dict[str, Any]] = {}
        self._whapi_latency_ms = 0
        self._whapi_rate_limit_every = 0
        self._whapi_requests = 0

    # --- lifecycle -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    @property
    def whapi_url(self) -> str:
        return self.url + "/whapi"

    def _start_workers(self) -> None:
        for target, name in (
            (self._tick_loop, "ticker"),
            (self._webhook_loop, "webhooks"),
        ):
            thread = threading.Thread(target=target, name=f"gateway-simulator-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def start(self) -> GatewaySimulator:
        self._start_workers()
        self._serving = True
        thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="gateway-simulator-http",
            daemon=True,
        )
        thread.start()
        self._threads.append(thread)
        return self

    def serve_forever(self) -> None:
        self._start_workers()
        self._serving = True
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self.stop()

    def stop(self) -> None:
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wakeup.set()
        self._webhook_queue.put(None)
        if self._serving:
            self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:  # idle keep-alive connections would otherwise linger
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=2)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- direct control (same effects as the /_control endpoints) -------------------------------
    def connect(self, session_id: str, phone_number: str | None = None) -> None:
        with self._lock:
            if phone_number:
                self._preset_phones[session_id] = phone_number
            session = self._get_session(session_id) or self._new_session(session_id, "connecting")
            self._queue_status_locked(self._mark_connected(session))

    def disconnect(
        self, session_id: str, error: str | None = "Connection closed by WhatsApp"
    ) -> None:
        with self._lock:
            session = self._get_session(session_id) or self._new_session(session_id, "connecting")
            self._queue_status_locked(self._mark_disconnected(session, error))

    def set_phone(self, session_id: str, phone_number: str) -> None:
        """The number the session gets at its next connect."""
        with self._lock:
            self._preset_phones[session_id] = phone_number

    def set_groups(
        self,
        session_id: str,
        groups: list[dict[str, Any]] | None = None,
        count: int | None = None,
    ) -> None:
        if groups is None:
            groups = generate_groups(
                session_id, self.groups_per_session if count is None else count
            )
        else:
            groups = [dict(group) for group in groups]
        parents = frozenset(
            g.get("id") for g in groups if isinstance(g, dict) and g.get("isCommunity")
        )
        with self._lock:
            self._groups[session_id] = groups
            self._parent_jids[session_id] = parents

    def reject_jid(self, jid: str) -> None:
        with self._lock:
            self._rejected.add(jid)

    def add_failure(
        self,
        *,
        path: str,
        status: int | None,
        method: str | None = None,
        body: Any = None,
        times: int = 1,
        delay: float = 0.0,
    ) -> None:
        rule = _FailureRule(
            path=re.compile(path),
            status=status,
            method=method.upper() if method else None,
            body=body,
            times=times,
            delay=delay,
        )
        with self._lock:
            self._failures.append(rule)

    def clear_failures(self) -> None:
        with self._lock:
            self._failures.clear()

    def set_whapi_group(
        self,
        group_id: str,
        *,
        name: str | None = None,
        participants: list[dict[str, Any]],
    ) -> None:
        group_id = group_id.removesuffix("@g.us")
        group = {
            "id": f"{group_id}@g.us",
            "name": name if name is not None else generate_whapi_group(group_id)["name"],
            "participants": [dict(p) for p in participants],
        }
        with self._lock:
            self._whapi_groups[group_id] = group

    def configure_whapi(
        self, *, latency_ms: int | None = None, rate_limit_every: int | None = None
    ) -> None:
        """None leaves a setting as it is; 0 switches it off."""
        with self._lock:
            if latency_ms is not None:
                self._whapi_latency_ms = max(0, int(latency_ms))
            if rate_limit_every is not None:
                self._whapi_rate_limit_every = max(0, int(rate_limit_every))
                self._whapi_requests = 0

    def sends(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(send) for send in self._sends]

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(delivery) for delivery in self._deliveries]

    def reset(self) -> None:
        with self._lock:
            self._generation += 1
            self._init_state()
        while True:  # forget webhooks still waiting to be sent
            try:
                item = self._webhook_queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._webhook_queue.put(None)
                break

    def state(self) -> dict[str, Any]:
        with self._lock:
            self._advance(time.monotonic())
            sessions = [
                {
                    **session.as_status(),
                    "groups": len(self._groups.get(sid, ()))
                    if sid in self._groups
                    else self.groups_per_session,
                }
                for sid, session in self._sessions.items()
            ]
            return {
                "sessions": sessions,
                "sends": len(self._sends),
                "webhooks": len(self._deliveries),
                "pendingLateErrors": len(self._late_errors),
                "rejectedJids": sorted(self._rejected),
                "failures": [rule.describe() for rule in self._failures],
                "whapi": {
                    "latency_ms": self._whapi_latency_ms,
                    "rate_limit_every": self._whapi_rate_limit_every,
                    "groups": sorted(self._whapi_groups),
                },
                "idempotent": self.idempotent,
                "connectAfter": self.connect_after,
            }

    # --- session state (callers hold the lock) -----------------------------------------------------
    def _new_session(self, session_id: str, status: str) -> _Session:
        session = _Session(session_id=session_id, status=status)
        self._sessions[session_id] = session
        return session

    def _get_session(self, session_id: str) -> _Session | None:
        session = self._sessions.get(session_id)
        if session is None and session_id.startswith(DEMO_SESSION_PREFIX):
            # Demo sessions are always there and connected, so seeded demo data keeps working
            # across simulator restarts.
            session = self._new_session(session_id, "connected")
            session.phone_number = self._preset_phones.get(session_id) or demo_phone_number(
                session_id
            )
        due = session.connect_due if session is not None else None
        if session is not None and due is not None and time.monotonic() >= due:
            self._queue_status_locked(self._mark_connected(session))
        return session

    def _mark_connected(self, session: _Session) -> dict[str, Any] | None:
        session.connect_due = None
        phone = self._preset_phones.get(session.session_id) or demo_phone_number(session.session_id)
        if session.status == "connected" and session.phone_number == phone:
            return None
        # A connected session given another number reports it like a re-link with a new phone.
        session.status = "connected"
        session.error = None
        session.phone_number = phone
        return session.as_status()

    def _mark_disconnected(self, session: _Session, error: str | None) -> dict[str, Any] | None:
        session.connect_due = None
        if session.status == "disconnected" and session.error == error:
            return None
        session.status = "disconnected"
        session.error = error
        return session.as_status()

    def _restart(self, session_id: str) -> tuple[_Session, bool]:
        session = self._get_session(session_id)
        created = session is None
        if session is None:
            session = self._new_session(session_id, "connecting")
        session.status = "connecting"
        session.error = None
        session.phone_number = None
        session.qr_started_at = time.monotonic()
        session.connect_due = (
            time.monotonic() + self.connect_after if self.connect_after > 0 else None
        )
        return session, created

    def _session_groups(self, session_id: str) -> tuple[list[dict[str, Any]], frozenset[str]]:
        groups = self._groups.get(session_id)
        if groups is None:
            groups = generate_groups(session_id, self.groups_per_session)
            self._groups[session_id] = groups
            self._parent_jids[session_id] = frozenset(g["id"] for g in groups if g["isCommunity"])
        return groups, self._parent_jids[session_id]

    def _advance(self, now: float) -> float:
        """Due transitions and late errors (lock held); returns when the next one is due."""
        next_due = now + TICK_SECONDS
        for session in self._sessions.values():
            if session.connect_due is not None:
                if now >= session.connect_due:
                    self._queue_status_locked(self._mark_connected(session))
                else:
                    next_due = min(next_due, session.connect_due)
        while self._late_errors and self._late_errors[0][0] <= now:
            _, _, payload = heapq.heappop(self._late_errors)
            self._queue_webhook_locked(MESSAGE_ERROR_WEBHOOK_PATH, payload)
        if self._late_errors:
            next_due = min(next_due, self._late_errors[0][0])
        return next_due

    def _tick_loop(self) -> None:
        while not self._stopping.is_set():
            self._wakeup.clear()
            with self._lock:
                next_due = self._advance(time.monotonic())
            self._wakeup.wait(max(0.0, next_due - time.monotonic()))

    # --- webhooks -----------------------------------------------------------------------------------
    def _queue_status_locked(self, status: dict[str, Any] | None) -> None:
        if status is not None:
            payload = {"event": "session_status", "id": _event_id(), **status}
            self._queue_webhook_locked(STATUS_WEBHOOK_PATH, payload)

    def _queue_webhook_locked(self, path: str, payload: dict[str, Any]) -> None:
        if self.webhook_base:
            self._webhook_queue.put((self._generation, self.webhook_base + path, payload))

    def _webhook_loop(self) -> None:
        while True:
            item = self._webhook_queue.get()
            if item is None or self._stopping.is_set():
                return
            generation, url, payload = item
            delivery = self._deliver(url, payload)
            with self._lock:
                if generation == self._generation:
                    self._deliveries.append(delivery)

    def _deliver(self, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "gateway-simulator",
        }
        if self.webhook_api_key:
            headers["X-API-Key"] = self.webhook_api_key
        if self.webhook_hmac_secret:
            headers["X-Webhook-Hmac"] = hmac.new(
                self.webhook_hmac_secret.encode(), body, hashlib.sha512
            ).hexdigest()
        delivery: dict[str, Any] = {
            "url": url,
            "payload": payload,
            "status": None,
            "error": None,
            "attempts": 0,
            "response": None,
        }
        for attempt in range(1 + WEBHOOK_RETRIES):
            if attempt and self._stopping.wait(self.webhook_backoff * 2 ** (attempt - 1)):
                break
            delivery["attempts"] = attempt + 1
            request = urllib.request.Request(url, data=body, headers=headers, method="POST")
            try:
                with self._opener.open(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
                    answer = response.read(2000)
                    delivery.update(status=response.status, error=None)
                    delivery["response"] = answer.decode(errors="replace")
                    break
            except urllib.error.HTTPError as exc:
                delivery.update(status=exc.code, error=f"HTTP {exc.code}")
                delivery["response"] = exc.read(2000).decode(errors="replace")
                if exc.code < 500:  # the CRM refused it: sending it again cannot help
                    break
            except (OSError, ValueError) as exc:  # refused, reset, timeout, bad URL
                reason = getattr(exc, "reason", exc)
                delivery.update(status=None, error=str(reason) or type(exc).__name__)
        if delivery["error"] and not self.quiet:
            self._log(
                f"webhook {url} failed after {delivery['attempts']} attempts: {delivery['error']}"
            )
        return delivery

    # --- request handling ---------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: Any, raw: bytes, client_ip: str) -> _Response:
        if path.startswith("/_control/"):
            if not _is_loopback(client_ip):
                return _Response(403, {"error": "control endpoints answer on loopback only"})
            return self._control(method, path, raw)

        rule = self._match_failure(method, path)
        if rule is not None:
            if rule.delay > 0:
                time.sleep(rule.delay)
            if rule.status == 0:
                return _Response(0)
            if rule.status is not None:
                body = (
                    rule.body
                    if rule.body is not None
                    else {"error": f"Simulated failure ({rule.status})"}
                )
                return _Response(rule.status, body)

        if path == "/whapi" or path.startswith("/whapi/"):
            return self._whapi(method, path, headers)
        if headers.get("X-API-Key") != self.api_key:
            return _Response(401, {"error": "invalid API key"})
        try:
            return self._gateway(method, path, raw)
        except _BadRequest as exc:
            return _Response(400, {"error": str(exc)})

    def _match_failure(self, method: str, path: str) -> _FailureRule | None:
        with self._lock:
            for rule in self._failures:
                if rule.times == 0:
                    continue
                if rule.method and rule.method != method:
                    continue
                if rule.path.search(path):
                    if rule.times > 0:
                        rule.times -= 1
                    return rule
        return None

    def _gateway(self, method: str, path: str, raw: bytes) -> _Response:
        if path == "/sessions" and method == "POST":
            data = _json_object(raw)
            session_id = _required_str(data, "sessionId")
            if "/" in session_id or any(ch.isspace() for ch in session_id):
                raise _BadRequest("sessionId must not contain '/' or whitespace")
            with self._lock:
                _, created = self._restart(session_id)
            self._wakeup.set()
            return _Response(
                201 if created else 200,
                {"sessionId": session_id, "status": "connecting"},
            )

        if path == "/send" and method == "POST":
            return self._send(_json_object(raw))

        match = re.fullmatch(r"/sessions/([^/]+)(/qr|/status|/groups)?", path)
        if match is None:
            return _Response(404, {"error": f"no route for {method} {path}"})
        session_id, action = unquote(match.group(1)), match.group(2)
        groups: list[dict[str, Any]] | None = None
        with self._lock:
            session = self._get_session(session_id)
            if session is None:
                return _Response(404, {"error": f"Session {session_id} not found"})
            if action is None and method == "DELETE":
                event = self._mark_disconnected(session, None)
                self._queue_status_locked(event)
                return _Response(200, {"sessionId": session_id, "status": "disconnected"})
            if method != "GET" or action is None:
                return _Response(405, {"error": f"{method} not allowed on {path}"})
            if action == "/status":
                return _Response(200, session.as_status())
            if action == "/qr":
                if session.status != "connecting":
                    return _Response(404, {"error": f"No QR code: session is {session.status}"})
                n = int((time.monotonic() - session.qr_started_at) // QR_ROTATE_SECONDS)
                return _Response(200, {"qr": f"sim-qr|{session_id}|{n}"})
            if session.status != "connected":
                return _Response(503, {"error": "Session not connected"})
            groups, _ = self._session_groups(session_id)
        # Lists are replaced, never changed in place, so encoding outside the lock is safe.
        return _Response(200, {"groups": groups})

    def _send(self, data: dict[str, Any]) -> _Response:
        session_id = _required_str(data, "sessionId")
        to = _required_str(data, "to")
        message = _required_str(data, "message")
        client_message_id = data.get("clientMessageId")
        if client_message_id is not None and not isinstance(client_message_id, str):
            raise _BadRequest("clientMessageId must be a string")
        if "@" not in to:
            raise _BadRequest(f"'to' is not a WhatsApp JID: {to!r}")
        with self._lock:
            session = self._get_session(session_id)
            if session is None:
                return _Response(404, {"error": f"Session {session_id} not found"})
            if session.status != "connected":
                return _Response(503, {"error": "Session not connected"})
            key = (session_id, client_message_id or "")
            if self.idempotent and client_message_id and key in self._sent_by_client_id:
                return _Response(200, {"messageId": self._sent_by_client_id[key]})
            message_id = "sim_" + uuid.uuid4().hex
            if self.idempotent and client_message_id:
                self._sent_by_client_id[key] = message_id
            self._sends.append(
                {
                    "sessionId": session_id,
                    "to": to,
                    "message": message,
                    "clientMessageId": client_message_id,
                    "messageId": message_id,
                    "at": time.time(),
                }
            )
            _, parents = self._session_groups(session_id)
            error = (
                COMMUNITY_PARENT_ERROR
                if to in parents
                else REJECTED_JID_ERROR
                if to in self._rejected
                else None
            )
            if error:
                # WhatsApp accepts the send and refuses it later; the gateway reports it by webhook.
                payload = {
                    "event": "message_error",
                    "id": _event_id(),
                    "sessionId": session_id,
                    "messageId": message_id,
                    "errorCode": LATE_ERROR_CODE,
                    "errorMessage": error,
                    "groupJid": to,
                }
                self._late_seq += 1
                due = time.monotonic() + max(0.0, self.late_error_delay)
                heapq.heappush(self._late_errors, (due, self._late_seq, payload))
        if error:
            self._wakeup.set()
        return _Response(200, {"messageId": message_id})

    def _whapi(self, method: str, path: str, headers: Any) -> _Response:
        if self.whapi_token and headers.get("Authorization") != f"Bearer {self.whapi_token}":
            return _Response(401, {"error": "Unauthorized: invalid or missing bearer token"})
        match = re.fullmatch(r"/whapi/groups/([^/]+)", path)
        if method != "GET" or match is None:
            return _Response(404, {"error": f"no route for {method} {path}"})
        group_id = unquote(match.group(1)).removesuffix("@g.us")
        with self._lock:
            self._whapi_requests += 1
            limited = (
                self._whapi_rate_limit_every > 0
                and self._whapi_requests % self._whapi_rate_limit_every == 0
            )
            latency = self._whapi_latency_ms / 1000
            group = self._whapi_groups.get(group_id)
        if latency:
            # Outside the lock: concurrent requests overlap, as on the real API.
            time.sleep(latency)
        if limited:
            return _Response(429, {"error": "Too many requests"}, {"Retry-After": "1"})
        if group is None:
            if not re.fullmatch(r"[0-9][0-9-]*", group_id):
                return _Response(404, {"error": f"Group {group_id}@g.us not found"})
            group = generate_whapi_group(group_id)
        return _Response(200, group)

    def _control(self, method: str, path: str, raw: bytes) -> _Response:
        try:
            data = _json_object(raw) if raw.strip() else {}
        except _BadRequest as exc:
            return _Response(400, {"error": str(exc)})
        try:
            return self._control_route(method, path, data)
        except (_BadRequest, KeyError, TypeError, ValueError, re.error) as exc:
            return _Response(400, {"error": f"bad control request: {exc}"})

    def _control_route(self, method: str, path: str, data: dict[str, Any]) -> _Response:
        ok = {"ok": True}
        if method == "GET":
            if path == "/_control/sends":
                return _Response(200, {"sends": self.sends()})
            if path == "/_control/webhooks":
                return _Response(200, {"webhooks": self.webhook_deliveries()})
            if path == "/_control/state":
                return _Response(200, self.state())
        if path == "/_control/failures" and method == "DELETE":
            self.clear_failures()
            return _Response(200, ok)
        if method != "POST":
            return _Response(404, {"error": f"no control route for {method} {path}"})

        match = re.fullmatch(r"/_control/sessions/([^/]+)/(connect|disconnect|phone|groups)", path)
        if match:
            session_id, action = unquote(match.group(1)), match.group(2)
            if action == "connect":
                self.connect(session_id, data.get("phoneNumber"))
            elif action == "disconnect":
                self.disconnect(session_id, data.get("error", "Connection closed by WhatsApp"))
            elif action == "phone":
                self.set_phone(session_id, _required_str(data, "phoneNumber"))
            else:
                count = data.get("count")
                self.set_groups(
                    session_id,
                    groups=data.get("groups"),
                    count=int(count) if count is not None else None,
                )
            return _Response(200, ok)
        match = re.fullmatch(r"/_control/whapi/groups/([^/]+)", path)
        if match:
            participants = data.get("participants")
            if not isinstance(participants, list):
                raise _BadRequest("participants must be a list")
            self.set_whapi_group(
                unquote(match.group(1)),
                name=data.get("name"),
                participants=participants,
            )
            return _Response(200, ok)
        if path == "/_control/whapi/config":
            self.configure_whapi(
                latency_ms=(data.get("latency_ms") or 0) if "latency_ms" in data else None,
                rate_limit_every=(data.get("rate_limit_every") or 0)
                if "rate_limit_every" in data
                else None,
            )
            return _Response(200, ok)
        if path == "/_control/reject":
            self.reject_jid(_required_str(data, "jid"))
            return _Response(200, ok)
        if path == "/_control/failures":
            self.add_failure(
                path=_required_str(data, "path"),
                status=data.get("status"),
                method=data.get("method"),
                body=data.get("body"),
                times=int(data.get("times", 1)),
                delay=float(data.get("delay", 0.0)),
            )
            return _Response(200, ok)
        if path == "/_control/reset":
            self.reset()
            return _Response(200, ok)
        return _Response(404, {"error": f"no control route for {method} {path}"})

    def _log(self, line: str) -> None:
        sys.stderr.write(f"[gateway-simulator] {line}\n")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GatewaySimulator/1.0"
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections are closed after this
    server: _Server

    def setup(self) -> None:
        super().setup()
        sim = self.server.simulator
        with sim._lock:
            sim._connections.add(self.connection)

    def finish(self) -> None:
        sim = self.server.simulator
        with sim._lock:
            sim._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def _dispatch(self) -> None:
        started = time.perf_counter()
        sim = self.server.simulator
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        path = urlsplit(self.path).path
        try:
            response = sim.handle(self.command, path, self.headers, raw, self.client_address[0])
        except Exception:  # noqa: BLE001 (a simulator bug answers 500, and is printed)
            traceback.print_exc()
            response = _Response(500, {"error": "simulator internal error"})
        if response.status == 0:
            # Drop the connection without an answer, as a crashing proxy would.
            self.close_connection = True
            try:
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
            except OSError:
                pass
            if not sim.quiet:
                sim._log(f'{self.client_address[0]} "{self.requestline}" dropped')
            return
        if isinstance(response.body, str):
            payload = response.body.encode()
            content_type = "text/html; charset=utf-8"
        else:
            payload = json.dumps(response.body if response.body is not None else {}).encode()
            content_type = "application/json"
        self.send_response(response.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        if not sim.quiet:
            elapsed = (time.perf_counter() - started) * 1000
            sim._log(
                f'{self.client_address[0]} "{self.requestline}" {response.status} {elapsed:.1f}ms'
            )

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _dispatch

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _dispatch logs one line with the duration instead

    def log_message(self, format: str, *args: Any) -> None:
        if not self.server.simulator.quiet:
            self.server.simulator._log(format % args)


# --- helpers ---------------------------------------------------------------------------------------


def _event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def _is_loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip in ("::1", "::ffff:127.0.0.1")


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _BadRequest(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise _BadRequest("body must be a JSON object")
    return data


def _required_str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _BadRequest(f"'{key}' is required (a non-empty string)")
    return value.strip()


def main(argv: list[str] | None = None) -> None:
    """Standalone entry point (without Django); `manage.py run_gateway_simulator` is the usual way."""
    parser = argparse.ArgumentParser(description="WhatsApp gateway + WHAPI simulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--api-key", default="dev-gateway-key")
    parser.add_argument("--webhook-base", default="http://127.0.0.1:8000")
    parser.add_argument("--webhook-api-key", default="dev-webhook-key")
    parser.add_argument("--webhook-hmac-secret", default=None)
    parser.add_argument("--whapi-token", default=None)
    parser.add_argument("--connect-after", type=float, default=3.0)
    parser.add_argument("--late-error-delay", type=float, default=1.0)
    parser.add_argument("--idempotent", action="store_true")
    args = parser.parse_args(argv)
    sim = GatewaySimulator(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        webhook_base=args.webhook_base or None,
        webhook_api_key=args.webhook_api_key,
        webhook_hmac_secret=args.webhook_hmac_secret,
        whapi_token=args.whapi_token,
        connect_after=args.connect_after,
        late_error_delay=args.late_error_delay,
        idempotent=args.idempotent,
        quiet=False,
    )
    sys.stderr.write(f"Gateway simulator on {sim.url} (WHAPI: {sim.whapi_url})\n")
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
