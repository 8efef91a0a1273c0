"""What the simulated gateway and WHAPI remember, and the rules by which it changes.

- Sessions start "connecting" (POST /sessions) and connect `connect_after` seconds later, or on a
  control call, with the number set for them or one derived from their id. Ids starting with
  "wa_demo" exist and are connected from the start, so seeded demo data survives restarts.
  Every status change queues a `session_status` webhook.
- Sends are recorded. One to a community parent or a rejected JID is accepted, then refused
  `late_error_delay` seconds later by a `message_error` webhook (code 420), as WhatsApp does.
- Failure rules answer matching requests late, with an error, or not at all.
- The request log records each gateway/WHAPI request when it arrives, before any failure rule
  delays it: `wait_for_request` lets a test act while a call is under way, without sleeping.

One lock guards it all; `reset()` forgets everything. HTTP lives in routes.py and server.py.
"""

from __future__ import annotations

import heapq
import queue
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from demo_data import demo_phone_number, generate_groups, generate_whapi_group

TICK_SECONDS = 0.2
DEMO_SESSION_PREFIX = "wa_demo"
STATUS_WEBHOOK_PATH = "/api/webhooks/whatsapp/status/"
MESSAGE_ERROR_WEBHOOK_PATH = "/api/webhooks/whatsapp/message-error/"
COMMUNITY_PARENT_ERROR = "Not allowed to send to a community parent group"
REJECTED_JID_ERROR = "Message rejected by WhatsApp"
LATE_ERROR_CODE = 420
# Benchmarks make hundreds of thousands of requests; tests only look at the last few.
REQUEST_LOG_LIMIT = 10_000


class GatewayRefusal(Exception):
    """A gateway call the gateway answers with an error (unknown session, not connected, ...)."""

    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


@dataclass
class SimulatedSession:
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
class FailureRule:
    path: re.Pattern[str]
    status: int | None
    method: str | None
    body: Any
    times: int
    delay: float

    def describe(self) -> dict[str, Any]:
        return {**vars(self), "path": self.path.pattern}


def event_id() -> str:
    return "evt_" + uuid.uuid4().hex


class SimulatorState:
    """The in-memory gateway + WHAPI. Public methods take the lock; `_…_locked` ones expect it."""

    def __init__(
        self,
        *,
        api_key: str = "dev-gateway-key",
        whapi_token: str | None = None,
        webhook_base: str | None = None,
        connect_after: float = 3.0,
        late_error_delay: float = 1.0,
        idempotent: bool = False,
        groups_per_session: int = 30,
    ) -> None:
        self.api_key = api_key
        self.whapi_token = whapi_token or None
        self.webhook_base = webhook_base.rstrip("/") if webhook_base else None
        self.connect_after = connect_after
        self.late_error_delay = late_error_delay
        self.idempotent = idempotent
        self.groups_per_session = groups_per_session

        self._lock = threading.Lock()
        self._request_arrived = threading.Condition(self._lock)
        # Bumped by reset(), so webhooks queued before it are forgotten.
        self._generation = 0
        # Set when something may have become due earlier than the ticker expects.
        self._wakeup = threading.Event()
        # (generation, url, payload); None stops the sender.
        self._webhook_queue: queue.Queue[tuple[int, str, dict[str, Any]] | None] = queue.Queue()
        self._init_state()

    def _init_state(self) -> None:
        self._sessions: dict[str, SimulatedSession] = {}
        self._preset_phones: dict[str, str] = {}
        self._groups: dict[str, list[dict[str, Any]]] = {}
        self._parent_jids: dict[str, frozenset[str]] = {}
        self._rejected: set[str] = set()
        self._failures: list[FailureRule] = []
        self._sends: list[dict[str, Any]] = []
        self._sent_by_client_id: dict[tuple[str, str], str] = {}
        self._late_errors: list[tuple[float, int, dict[str, Any]]] = []
        self._late_seq = 0
        self._deliveries: list[dict[str, Any]] = []
        self._requests: deque[dict[str, Any]] = deque(maxlen=REQUEST_LOG_LIMIT)
        self._whapi_groups: dict[str, dict[str, Any]] = {}
        self._whapi_latency_ms = 0
        self._whapi_rate_limit_every = 0
        self._whapi_requests = 0

    # --- control (the same effects as the /_control endpoints) -----------------------------------
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
        rule = FailureRule(
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

    # --- what happened ----------------------------------------------------------------------------
    def sends(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(send) for send in self._sends]

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(delivery) for delivery in self._deliveries]

    def requests(self) -> list[dict[str, Any]]:
        """Gateway and WHAPI requests in the order they arrived: {"method","path","at"}."""
        with self._lock:
            return [dict(request) for request in self._requests]

    def log_request(self, method: str, path: str) -> None:
        with self._request_arrived:
            self._requests.append({"method": method, "path": path, "at": time.time()})
            self._request_arrived.notify_all()

    def wait_for_request(
        self, path: str, *, method: str | None = None, count: int = 1, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Block until `count` requests matching `path` (a regex searched in the path) and
        `method` have arrived, counting those already logged; return the last of them.

        A request counts as soon as it is read, before a failure rule's delay is served: the
        caller knows the client is waiting for the answer. Raises TimeoutError after `timeout` s.
        """
        pattern = re.compile(path)
        method = method.upper() if method else None

        def matching() -> list[dict[str, Any]]:
            return [
                request
                for request in self._requests
                if pattern.search(request["path"]) and method in (None, request["method"])
            ]

        with self._request_arrived:
            if not self._request_arrived.wait_for(lambda: len(matching()) >= count, timeout):
                raise TimeoutError(
                    f"no {method or 'request'} to {path!r} (×{count}) within {timeout} s"
                )
            return dict(matching()[count - 1])

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
                "requests": len(self._requests),
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

    # --- the gateway's answers (routes.py turns them into HTTP) ------------------------------------
    def session_start(self, session_id: str) -> bool:
        """POST /sessions: (re)start the login with a fresh QR code. True for a new session."""
        with self._lock:
            _, created = self._restart(session_id)
        self._wakeup.set()
        return created

    def session_view(self, session_id: str) -> SimulatedSession:
        """A copy of the session as it is now; GatewayRefusal(404) when unknown."""
        with self._lock:
            return replace(self._existing_session(session_id))

    def session_logout(self, session_id: str) -> None:
        with self._lock:
            session = self._existing_session(session_id)
            self._queue_status_locked(self._mark_disconnected(session, None))

    def session_groups(self, session_id: str) -> list[dict[str, Any]]:
        """The session's group list; lists are replaced, never changed in place."""
        with self._lock:
            if self._existing_session(session_id).status != "connected":
                raise GatewayRefusal(503, "Session not connected")
            groups, _ = self._session_groups(session_id)
            return groups

    def send(self, *, session_id: str, to: str, message: str, client_message_id: str | None) -> str:
        """Record a send and return its messageId; a refused one gets its 420 webhook later."""
        with self._lock:
            session = self._existing_session(session_id)
            if session.status != "connected":
                raise GatewayRefusal(503, "Session not connected")
            key = (session_id, client_message_id or "")
            if self.idempotent and client_message_id and key in self._sent_by_client_id:
                return self._sent_by_client_id[key]
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
                    "id": event_id(),
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
        return message_id

    def whapi_lookup(self, group_id: str) -> tuple[dict[str, Any] | None, float, bool]:
        """Count a WHAPI request: (the configured group or None, latency in s, rate-limited?)."""
        with self._lock:
            self._whapi_requests += 1
            limited = (
                self._whapi_rate_limit_every > 0
                and self._whapi_requests % self._whapi_rate_limit_every == 0
            )
            return self._whapi_groups.get(group_id), self._whapi_latency_ms / 1000, limited

    def match_failure(self, method: str, path: str) -> FailureRule | None:
        """The first rule with uses left that matches; one use is consumed."""
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

    # --- session transitions (lock held) -----------------------------------------------------------
    def _new_session(self, session_id: str, status: str) -> SimulatedSession:
        session = SimulatedSession(session_id=session_id, status=status)
        self._sessions[session_id] = session
        return session

    def _existing_session(self, session_id: str) -> SimulatedSession:
        session = self._get_session(session_id)
        if session is None:
            raise GatewayRefusal(404, f"Session {session_id} not found")
        return session

    def _get_session(self, session_id: str) -> SimulatedSession | None:
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

    def _mark_connected(self, session: SimulatedSession) -> dict[str, Any] | None:
        session.connect_due = None
        phone = self._preset_phones.get(session.session_id) or demo_phone_number(session.session_id)
        if session.status == "connected" and session.phone_number == phone:
            return None
        # A connected session given another number reports it like a re-link with a new phone.
        session.status = "connected"
        session.error = None
        session.phone_number = phone
        return session.as_status()

    def _mark_disconnected(
        self, session: SimulatedSession, error: str | None
    ) -> dict[str, Any] | None:
        session.connect_due = None
        if session.status == "disconnected" and session.error == error:
            return None
        session.status = "disconnected"
        session.error = error
        return session.as_status()

    def _restart(self, session_id: str) -> tuple[SimulatedSession, bool]:
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

    def _queue_status_locked(self, status: dict[str, Any] | None) -> None:
        if status is not None:
            payload = {"event": "session_status", "id": event_id(), **status}
            self._queue_webhook_locked(STATUS_WEBHOOK_PATH, payload)

    def _queue_webhook_locked(self, path: str, payload: dict[str, Any]) -> None:
        if self.webhook_base:
            self._webhook_queue.put((self._generation, self.webhook_base + path, payload))
