"""HTTP requests to answers: the gateway protocol (INTERFACE.md §4), WHAPI's group endpoint under
`/whapi`, and the `/_control/...` endpoints that tests and demos use to steer the simulator.

Every request is first written to the request log, then failure rules are applied (gateway and
WHAPI paths only, before the key check), then it is routed. Control endpoints need no key but
answer loopback clients only. A `Response` with status 0 means "close the connection unanswered".
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from demo_data import generate_whapi_group
from gateway_simulator.state import GatewayRefusal, SimulatorState

QR_ROTATE_SECONDS = 5.0


@dataclass
class Response:
    status: int
    body: Any = None  # dict/list → JSON, str → raw text/html, None → no answer at all (status 0)
    headers: dict[str, str] = field(default_factory=dict)


class BadRequest(Exception):
    pass


def handle(
    sim: SimulatorState, method: str, path: str, headers: Any, raw: bytes, client_ip: str
) -> Response:
    """The answer to one request (`headers` is anything with `.get`, e.g. an email Message)."""
    if path.startswith("/_control/"):
        if not _is_loopback(client_ip):
            return Response(403, {"error": "control endpoints answer on loopback only"})
        return _control(sim, method, path, raw)

    sim.log_request(method, path)
    rule = sim.match_failure(method, path)
    if rule is not None:
        if rule.delay > 0:
            time.sleep(rule.delay)
        if rule.status == 0:
            return Response(0)
        if rule.status is not None:
            body = (
                rule.body
                if rule.body is not None
                else {"error": f"Simulated failure ({rule.status})"}
            )
            return Response(rule.status, body)

    if path == "/whapi" or path.startswith("/whapi/"):
        return _whapi(sim, method, path, headers)
    if headers.get("X-API-Key") != sim.api_key:
        return Response(401, {"error": "invalid API key"})
    try:
        return _gateway(sim, method, path, raw)
    except BadRequest as exc:
        return Response(400, {"error": str(exc)})
    except GatewayRefusal as refusal:
        return Response(refusal.status, {"error": refusal.error})


# --- the gateway (§4) ---------------------------------------------------------------------------------


def _gateway(sim: SimulatorState, method: str, path: str, raw: bytes) -> Response:
    if path == "/sessions" and method == "POST":
        session_id = _required_str(_json_object(raw), "sessionId")
        if "/" in session_id or any(ch.isspace() for ch in session_id):
            raise BadRequest("sessionId must not contain '/' or whitespace")
        created = sim.session_start(session_id)
        return Response(201 if created else 200, {"sessionId": session_id, "status": "connecting"})

    if path == "/send" and method == "POST":
        return _send(sim, _json_object(raw))

    match = re.fullmatch(r"/sessions/([^/]+)(/qr|/status|/groups)?", path)
    if match is None:
        return Response(404, {"error": f"no route for {method} {path}"})
    session_id, action = unquote(match.group(1)), match.group(2)
    if action is None and method == "DELETE":
        sim.session_logout(session_id)
        return Response(200, {"sessionId": session_id, "status": "disconnected"})
    session = sim.session_view(session_id)  # an unknown session is a 404 whatever the method
    if method != "GET" or action is None:
        return Response(405, {"error": f"{method} not allowed on {path}"})
    if action == "/status":
        return Response(200, session.as_status())
    if action == "/qr":
        if session.status != "connecting":
            return Response(404, {"error": f"No QR code: session is {session.status}"})
        rotation = int((time.monotonic() - session.qr_started_at) // QR_ROTATE_SECONDS)
        return Response(200, {"qr": f"sim-qr|{session_id}|{rotation}"})
    return Response(200, {"groups": sim.session_groups(session_id)})


def _send(sim: SimulatorState, data: dict[str, Any]) -> Response:
    session_id = _required_str(data, "sessionId")
    to = _required_str(data, "to")
    message = _required_str(data, "message")
    client_message_id = data.get("clientMessageId")
    if client_message_id is not None and not isinstance(client_message_id, str):
        raise BadRequest("clientMessageId must be a string")
    if "@" not in to:
        raise BadRequest(f"'to' is not a WhatsApp JID: {to!r}")
    message_id = sim.send(
        session_id=session_id, to=to, message=message, client_message_id=client_message_id
    )
    return Response(200, {"messageId": message_id})


# --- WHAPI --------------------------------------------------------------------------------------------


def _whapi(sim: SimulatorState, method: str, path: str, headers: Any) -> Response:
    if sim.whapi_token and headers.get("Authorization") != f"Bearer {sim.whapi_token}":
        return Response(401, {"error": "Unauthorized: invalid or missing bearer token"})
    match = re.fullmatch(r"/whapi/groups/([^/]+)", path)
    if method != "GET" or match is None:
        return Response(404, {"error": f"no route for {method} {path}"})
    group_id = unquote(match.group(1)).removesuffix("@g.us")
    group, latency, limited = sim.whapi_lookup(group_id)
    if latency:
        # Outside the lock: concurrent requests overlap, as on the real API.
        time.sleep(latency)
    if limited:
        return Response(429, {"error": "Too many requests"}, {"Retry-After": "1"})
    if group is None:
        if not re.fullmatch(r"[0-9][0-9-]*", group_id):
            return Response(404, {"error": f"Group {group_id}@g.us not found"})
        group = generate_whapi_group(group_id)
    return Response(200, group)


# --- /_control ----------------------------------------------------------------------------------------


def _control(sim: SimulatorState, method: str, path: str, raw: bytes) -> Response:
    try:
        data = _json_object(raw) if raw.strip() else {}
    except BadRequest as exc:
        return Response(400, {"error": str(exc)})
    try:
        return _control_route(sim, method, path, data)
    except (BadRequest, KeyError, TypeError, ValueError, re.error) as exc:
        return Response(400, {"error": f"bad control request: {exc}"})


def _control_route(sim: SimulatorState, method: str, path: str, data: dict[str, Any]) -> Response:
    ok = {"ok": True}
    if method == "GET":
        if path == "/_control/sends":
            return Response(200, {"sends": sim.sends()})
        if path == "/_control/webhooks":
            return Response(200, {"webhooks": sim.webhook_deliveries()})
        if path == "/_control/requests":
            return Response(200, {"requests": sim.requests()})
        if path == "/_control/state":
            return Response(200, sim.state())
    if path == "/_control/failures" and method == "DELETE":
        sim.clear_failures()
        return Response(200, ok)
    if method != "POST":
        return Response(404, {"error": f"no control route for {method} {path}"})

    match = re.fullmatch(r"/_control/sessions/([^/]+)/(connect|disconnect|phone|groups)", path)
    if match:
        session_id, action = unquote(match.group(1)), match.group(2)
        if action == "connect":
            sim.connect(session_id, data.get("phoneNumber"))
        elif action == "disconnect":
            sim.disconnect(session_id, data.get("error", "Connection closed by WhatsApp"))
        elif action == "phone":
            sim.set_phone(session_id, _required_str(data, "phoneNumber"))
        else:
            count = data.get("count")
            sim.set_groups(
                session_id,
                groups=data.get("groups"),
                count=int(count) if count is not None else None,
            )
        return Response(200, ok)
    match = re.fullmatch(r"/_control/whapi/groups/([^/]+)", path)
    if match:
        participants = data.get("participants")
        if not isinstance(participants, list):
            raise BadRequest("participants must be a list")
        sim.set_whapi_group(
            unquote(match.group(1)), name=data.get("name"), participants=participants
        )
        return Response(200, ok)
    if path == "/_control/whapi/config":
        sim.configure_whapi(
            latency_ms=(data.get("latency_ms") or 0) if "latency_ms" in data else None,
            rate_limit_every=(data.get("rate_limit_every") or 0)
            if "rate_limit_every" in data
            else None,
        )
        return Response(200, ok)
    if path == "/_control/reject":
        sim.reject_jid(_required_str(data, "jid"))
        return Response(200, ok)
    if path == "/_control/failures":
        sim.add_failure(
            path=_required_str(data, "path"),
            status=data.get("status"),
            method=data.get("method"),
            body=data.get("body"),
            times=int(data.get("times", 1)),
            delay=float(data.get("delay", 0.0)),
        )
        return Response(200, ok)
    if path == "/_control/reset":
        sim.reset()
        return Response(200, ok)
    return Response(404, {"error": f"no control route for {method} {path}"})


# --- helpers ------------------------------------------------------------------------------------------


def _is_loopback(ip: str) -> bool:
    return ip.startswith("127.") or ip in ("::1", "::ffff:127.0.0.1")


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


def _required_str(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"'{key}' is required (a non-empty string)")
    return value.strip()
