"""What the simulator's dialects share: a request, an answer, a webhook to post, the `Dialect`
base class and a few helpers.

A dialect is the gateway's outside: the paths, auth, bodies and error shapes of one gateway
product, and its webhook envelopes. Underneath, every dialect drives the one `SimulatorState`
(sessions, QR, groups, sends, failures), which knows nothing of any product: it raises
`GatewayRefusal` and emits neutral events, which the dialect translates.

Neutral events (dicts, all with "event", "id" and "sessionId"):
- `session_starting`   a session (re)started its login: a fresh QR code
- `session_status`     "status" connected | connecting | disconnected, "phoneNumber", "error"
- `message_error`      "messageId", "errorCode", "errorMessage", "groupJid" (a late refusal)
- `message_ack`        "messageId", "chatJid", "ack" (server|delivered|read|played|error),
                       "participant" (None for the message as a whole)
- `group_participants` "groupJid", "action" (add|remove|promote|demote), "participants"
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway_simulator.state import SimulatorState

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


@dataclass
class Response:
    status: int
    body: Any = None  # dict/list → JSON, str → raw text/html, None → no answer at all (status 0)
    headers: dict[str, str] = field(default_factory=dict)


class BadRequest(Exception):
    pass


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Any  # anything with .get/.items (an email Message from http.server, or a dict)
    raw: bytes

    def header(self, name: str) -> str | None:
        """A header by name, whatever its case (HTTP header names are case-insensitive)."""
        value = self.headers.get(name)
        if value is not None:
            return value
        items = self.headers.items() if hasattr(self.headers, "items") else ()
        for key, value in items:
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> Any:
        try:
            return json.loads(self.raw or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequest(f"body is not valid JSON: {exc}") from exc


@dataclass(frozen=True)
class Webhook:
    """One POST to make: `headers` go as they are; with `hmac_key` the body is signed too
    (`X-Webhook-Hmac`: hex HMAC-SHA512 of the raw body)."""

    url: str
    payload: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    hmac_key: str | None = None


class Dialect:
    """One gateway product's HTTP API over the simulator state. Subclasses set the class
    attributes and implement `handle` and `webhooks`."""

    name = ""
    variants: tuple[str, ...] = ()  # engine variants; the first is the default
    # Where webhooks go under the CRM's base URL (`webhook_base`) when no full URL is set.
    webhook_path = ""

    def __init__(self, variant: str | None = None) -> None:
        if self.variants:
            chosen = (variant or self.variants[0]).strip()
            by_lower = {v.lower(): v for v in self.variants}
            if chosen.lower() not in by_lower:
                raise ValueError(
                    f"unknown {self.name} variant {chosen!r}; known: {', '.join(self.variants)}"
                )
            self.variant: str | None = by_lower[chosen.lower()]
        elif variant:
            raise ValueError(f"the {self.name} dialect has no variants")
        else:
            self.variant = None

    def handle(self, sim: SimulatorState, request: Request) -> Response:
        raise NotImplementedError

    def webhooks(self, sim: SimulatorState, event: dict[str, Any]) -> list[Webhook]:
        """The POSTs one neutral event causes (the state's lock is held)."""
        raise NotImplementedError

    def new_message_id(self) -> str:
        return "sim_" + secrets.token_hex(16)

    def qr_value(self, session_id: str, rotation: int) -> str:
        return f"sim-qr|{session_id}|{rotation}"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "variant": self.variant}

    def global_url(self, sim: SimulatorState) -> str | None:
        """The gateway-wide webhook URL (like WAHA's WHATSAPP_HOOK_URL, Evolution's
        WEBHOOK_GLOBAL_URL): `webhook_url` as given, else the CRM base + this dialect's path."""
        if sim.webhook_url:
            return sim.webhook_url
        if sim.webhook_base:
            return sim.webhook_base + self.webhook_path
        return None


# --- helpers --------------------------------------------------------------------------------------


def json_object(raw: bytes) -> dict[str, Any]:
    data = Request("POST", "", {}, {}, raw).json()
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


def required_str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"'{key}' is required (a non-empty string)")
    return value.strip()


def ulid() -> str:
    """A lower-case ULID (48-bit ms time + 80 random bits, Crockford base32), as WAHA's ids."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def whatsapp_qr(session_id: str, rotation: int) -> str:
    """A QR text shaped like WhatsApp's pairing QR (`2@ref,noise key,identity key,adv secret`),
    the same for the same session and rotation."""
    parts = [
        hashlib.sha256(f"{part}|{session_id}|{rotation}".encode()).digest()
        for part in ("ref", "noise", "identity", "adv")
    ]
    ref = parts[0].hex()[:32]
    keys = [base64.b64encode(p).decode() for p in parts[1:]]
    return "2@" + ",".join([ref, *keys])


def hex_id(prefix: str, length: int) -> str:
    """A WhatsApp-like message id: `prefix` + upper-case hex, `length` characters in all."""
    return (prefix + secrets.token_hex(length).upper())[:length]
