"""What the simulated gateway remembers, and the rules by which it changes — the same for every
dialect (our protocol, WAHA, Evolution API: base.py, dialect_*.py).

- Sessions start "connecting" (a create call) and connect `connect_after` seconds later, or on a
  control call ("the QR was scanned"), with the number set for them or one derived from their id.
  Ids starting with "wa_demo" exist and are connected from the start, so seeded demo data
  survives restarts. Every status change emits a `session_status` event.
- Sends are recorded. One to a community parent or a rejected JID is accepted, then refused
  `late_error_delay` seconds later by a `message_error` event (code 420), as WhatsApp does.
- Auto-acks (`auto_acks`, off unless asked for; on in `manage.py run_gateway_simulator` and
  `python -m gateway_simulator`): after each accepted send, WhatsApp's receipts arrive by themselves
  with short delays (`auto_ack_delay` scales them): `server`, then `delivered` for a few members of
  the group (for a chat with one person: that person), and `read` for about `auto_ack_read_share`
  of those. `auto_ack_seed` makes who and when repeatable.
- Events are neutral (base.py lists them); the dialect turns each into its webhooks.
- Failure rules, the request log and WHAPI's switches live in observe.py; who is in which group
  (the participants lists, WHAPI's members, `change_participants`) in members.py.

One lock guards it all; `reset()` forgets everything. HTTP lives in routes.py and server.py.
"""

from __future__ import annotations

import heapq
import queue
import random
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from demo_data import demo_phone_number, generate_groups
from gateway_simulator.base import Dialect, Webhook
from gateway_simulator.dialect_vps import VpsDialect
from gateway_simulator.members import Members
from gateway_simulator.observe import Observed

TICK_SECONDS = 0.2
DEMO_SESSION_PREFIX = "wa_demo"
COMMUNITY_PARENT_ERROR = "Not allowed to send to a community parent group"
REJECTED_JID_ERROR = "Message rejected by WhatsApp"
LATE_ERROR_CODE = 420
QR_ROTATE_SECONDS = 5.0
ACKS = ("server", "delivered", "read", "played", "error")
AUTO_ACK_MEMBERS = (2, 5)  # how many group members deliver a message (at least, at most)


class GatewayRefusal(Exception):
    """A call the gateway refuses: 404 unknown session/message, 503 session not connected.
    Dialects answer it in their own shapes."""

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
    created_at: float = field(default_factory=time.time)
    # What a dialect keeps per session (its webhook config, tokens, status history, ...).
    extra: dict[str, Any] = field(default_factory=dict)

    def as_status(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "status": self.status,
            "phoneNumber": self.phone_number,
            "error": self.error,
        }


def event_id() -> str:
    return "evt_" + uuid.uuid4().hex


class SimulatorState(Members, Observed):
    """The in-memory gateway + WHAPI. Public methods take the lock; `_…_locked` ones expect it."""

    def __init__(
        self,
        *,
        api_key: str = "dev-gateway-key",
        whapi_token: str | None = None,
        webhook_base: str | None = None,
        webhook_url: str | None = None,
        webhook_api_key: str | None = None,
        webhook_hmac_secret: str | None = None,
        connect_after: float = 3.0,
        late_error_delay: float = 1.0,
        idempotent: bool = False,
        groups_per_session: int = 30,
        dialect: Dialect | None = None,
        auto_acks: bool = False,
        auto_ack_delay: float = 1.0,
        auto_ack_read_share: float = 0.3,
        auto_ack_seed: int | str | None = None,
    ) -> None:
        if not 0.0 <= auto_ack_read_share <= 1.0:
            raise ValueError("auto_ack_read_share must be between 0 and 1")
        self.api_key = api_key
        self.whapi_token = whapi_token or None
        self.webhook_base = webhook_base.rstrip("/") if webhook_base else None
        self.webhook_url = webhook_url or None
        self.webhook_api_key = webhook_api_key
        self.webhook_hmac_secret = webhook_hmac_secret or None
        self.connect_after = connect_after
        self.late_error_delay = late_error_delay
        self.idempotent = idempotent
        self.groups_per_session = groups_per_session
        self.dialect = dialect or VpsDialect()
        self.auto_acks = auto_acks
        self.auto_ack_delay = max(0.0, auto_ack_delay)
        self.auto_ack_read_share = auto_ack_read_share
        self._auto_ack_rng = random.Random(auto_ack_seed)

        self._lock = threading.Lock()
        self._request_arrived = threading.Condition(self._lock)
        # Bumped by reset(), so webhooks queued before it are forgotten.
        self._generation = 0
        # Set when something may have become due earlier than the ticker expects.
        self._wakeup = threading.Event()
        # (generation, webhook); None stops the sender.
        self._webhook_queue: queue.Queue[tuple[int, Webhook] | None] = queue.Queue()
        self._init_state()

    def _init_state(self) -> None:
        self._sessions: dict[str, SimulatedSession] = {}
        self._preset_phones: dict[str, str] = {}
        self._groups: dict[str, list[dict[str, Any]]] = {}
        self._parent_jids: dict[str, frozenset[str]] = {}
        self._rejected: set[str] = set()
        self._sends: list[dict[str, Any]] = []
        self._sent_by_client_id: dict[tuple[str, str], str] = {}
        # Events due later (late errors, auto-acks): (due, sequence, event).
        self._late_errors: list[tuple[float, int, dict[str, Any]]] = []
        self._late_seq = 0
        self._deliveries: list[dict[str, Any]] = []
        self._init_observe()
        self._init_members()

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

    def ack(self, message_id: str, ack: str, participant: str | None = None) -> None:
        """A receipt for a sent message (INTERFACE §8): the dialect's ack webhook."""
        if ack not in ACKS:
            raise ValueError(f"ack must be one of {', '.join(ACKS)}")
        with self._lock:
            send = next((s for s in self._sends if s["messageId"] == message_id), None)
            if send is None:
                raise GatewayRefusal(404, f"No sent message {message_id}")
            self._queue_event_locked(
                {
                    "event": "message_ack",
                    "id": event_id(),
                    "sessionId": send["sessionId"],
                    "messageId": message_id,
                    "chatJid": send["to"],
                    "ack": ack,
                    "participant": participant,
                }
            )

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
                "dialect": self.dialect.describe(),
                "sessions": sessions,
                "sends": len(self._sends),
                "webhooks": len(self._deliveries),
                "pendingLateErrors": len(self._late_errors),
                "rejectedJids": sorted(self._rejected),
                **self._observe_state_locked(),
                "idempotent": self.idempotent,
                "connectAfter": self.connect_after,
            }

    # --- the gateway's answers (the dialects turn them into HTTP) ---------------------------------
    def session_exists(self, session_id: str) -> bool:
        with self._lock:
            return self._get_session(session_id) is not None

    def session_start(self, session_id: str, extra: dict[str, Any] | None = None) -> bool:
        """(Re)start the login with a fresh QR code. True for a new session."""
        with self._lock:
            session, created = self._restart(session_id)
            session.extra.update(extra or {})
            self._queue_event_locked(
                {"event": "session_starting", "id": event_id(), "sessionId": session_id}
            )
        self._wakeup.set()
        return created

    def session_view(self, session_id: str) -> SimulatedSession:
        """A copy of the session as it is now; GatewayRefusal(404) when unknown."""
        with self._lock:
            session = self._existing_session(session_id)
            return replace(session, extra=dict(session.extra))

    def session_update(self, session_id: str, **extra: Any) -> SimulatedSession:
        """Keep dialect data for the session (e.g. its webhook config); a copy is returned."""
        with self._lock:
            session = self._existing_session(session_id)
            session.extra.update(extra)
            return replace(session, extra=dict(session.extra))

    def session_qr_rotation(self, session_id: str) -> int | None:
        """Which QR code the session shows (it changes every 5 s); None when not connecting."""
        with self._lock:
            session = self._existing_session(session_id)
            if session.status != "connecting":
                return None
            return int((time.monotonic() - session.qr_started_at) // QR_ROTATE_SECONDS)

    def session_logout(self, session_id: str) -> None:
        with self._lock:
            session = self._existing_session(session_id)
            self._queue_status_locked(self._mark_disconnected(session, None))

    def session_delete(self, session_id: str) -> None:
        """Log out and forget the session (a demo session comes back on its next call)."""
        with self._lock:
            session = self._existing_session(session_id)
            self._queue_status_locked(self._mark_disconnected(session, None))
            del self._sessions[session_id]

    def session_groups(self, session_id: str) -> list[dict[str, Any]]:
        """The session's group list; lists are replaced, never changed in place. A group whose
        members were set or changed (members.py) has their number as its size."""
        with self._lock:
            if self._existing_session(session_id).status != "connected":
                raise GatewayRefusal(503, "Session not connected")
            groups, _ = self._session_groups(session_id)
            changed = self._member_groups
            return [
                {**g, "size": len(changed[key]["participants"])}
                if isinstance(g, dict)
                and (key := str(g.get("id", "")).removesuffix("@g.us")) in changed
                else g
                for g in groups
            ]

    def send(self, *, session_id: str, to: str, message: str, client_message_id: str | None) -> str:
        """Record a send and return its messageId; a refused one gets its 420 event later."""
        with self._lock:
            session = self._existing_session(session_id)
            if session.status != "connected":
                raise GatewayRefusal(503, "Session not connected")
            key = (session_id, client_message_id or "")
            if self.idempotent and client_message_id and key in self._sent_by_client_id:
                return self._sent_by_client_id[key]
            message_id = self.dialect.new_message_id()
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
                self._later_locked(max(0.0, self.late_error_delay), payload)
            elif self.auto_acks:
                self._auto_acks_locked(session_id, to, message_id)
        if error or self.auto_acks:
            self._wakeup.set()
        return message_id

    def _later_locked(self, delay: float, event: dict[str, Any]) -> None:
        self._late_seq += 1
        heapq.heappush(self._late_errors, (time.monotonic() + delay, self._late_seq, event))

    def _auto_acks_locked(self, session_id: str, to: str, message_id: str) -> None:
        """WhatsApp's receipts of an accepted send, due in a moment (auto_acks)."""
        rng, scale = self._auto_ack_rng, self.auto_ack_delay

        def ack(delay: float, ack: str, participant: str | None) -> None:
            event = {
                "event": "message_ack",
                "id": event_id(),
                "sessionId": session_id,
                "messageId": message_id,
                "chatJid": to,
                "ack": ack,
                "participant": participant,
            }
            self._later_locked(delay, event)

        ack(scale * rng.uniform(0.1, 0.3), "server", None)
        if to.endswith("@g.us"):
            phones = [
                member["id"]
                for member in self._member_group_locked(to)["participants"]
                if "@" not in str(member.get("id") or "@")
            ]
            members: list[str | None] = list(
                rng.sample(phones, min(len(phones), rng.randint(*AUTO_ACK_MEMBERS)))
            )
        else:
            members = [None]  # a chat with one person: their receipt names no participant
        for member in members:
            delivered = scale * rng.uniform(0.5, 1.5)
            ack(delivered, "delivered", member)
            if rng.random() < self.auto_ack_read_share:
                ack(delivered + scale * rng.uniform(1.0, 3.0), "read", member)

    # --- session transitions (lock held) -----------------------------------------------------------
    def session_locked(self, session_id: str) -> SimulatedSession | None:
        """The session as stored, for dialects translating an event (lock held, no side effects)."""
        return self._sessions.get(session_id)

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
        """Due transitions, late errors and auto-acks (lock held); returns when the next one is
        due."""
        next_due = now + TICK_SECONDS
        for session in self._sessions.values():
            if session.connect_due is not None:
                if now >= session.connect_due:
                    self._queue_status_locked(self._mark_connected(session))
                else:
                    next_due = min(next_due, session.connect_due)
        while self._late_errors and self._late_errors[0][0] <= now:
            _, _, payload = heapq.heappop(self._late_errors)
            self._queue_event_locked(payload)
        if self._late_errors:
            next_due = min(next_due, self._late_errors[0][0])
        return next_due

    def _queue_status_locked(self, status: dict[str, Any] | None) -> None:
        if status is not None:
            self._queue_event_locked({"event": "session_status", "id": event_id(), **status})

    def _queue_event_locked(self, event: dict[str, Any]) -> None:
        for webhook in self.dialect.webhooks(self, event):
            self._webhook_queue.put((self._generation, webhook))
