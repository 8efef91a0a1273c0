"""HTTP requests to answers: WHAPI's group endpoint under `/whapi`, the `/_control/...` endpoints
that tests and demos use to steer the simulator, and everything else to the dialect (our protocol,
WAHA or Evolution API: dialect_*.py).

Every request is first written to the request log, then failure rules are applied (gateway and
WHAPI paths only, before the key check), then it is routed. Control endpoints need no key but
answer loopback clients only. A `Response` with status 0 means "close the connection unanswered".
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qsl, unquote

from demo_data import generate_whapi_group
from gateway_simulator.base import BadRequest, Request, Response, json_object, required_str
from gateway_simulator.state import GatewayRefusal, SimulatorState

__all__ = ["BadRequest", "Response", "handle"]


def handle(
    sim: SimulatorState,
    method: str,
    path: str,
    headers: Any,
    raw: bytes,
    client_ip: str,
    query: str = "",
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
    request = Request(method, path, dict(parse_qsl(query, keep_blank_values=True)), headers, raw)
    return sim.dialect.handle(sim, request)


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
        data = json_object(raw) if raw.strip() else {}
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

    match = re.fullmatch(
        r"/_control/sessions/([^/]+)/(connect|disconnect|phone|groups|participants)", path
    )
    if match:
        session_id, action = unquote(match.group(1)), match.group(2)
        if action == "connect":
            sim.connect(session_id, data.get("phoneNumber"))
        elif action == "disconnect":
            sim.disconnect(session_id, data.get("error", "Connection closed by WhatsApp"))
        elif action == "phone":
            sim.set_phone(session_id, required_str(data, "phoneNumber"))
        elif action == "participants":
            participants = data.get("participants")
            if not isinstance(participants, list):
                raise BadRequest("participants must be a list of ids")
            try:
                sim.change_participants(
                    session_id,
                    required_str(data, "groupJid"),
                    required_str(data, "action"),
                    participants,
                )
            except GatewayRefusal as refusal:
                return Response(refusal.status, {"error": refusal.error})
        else:
            count = data.get("count")
            sim.set_groups(
                session_id,
                groups=data.get("groups"),
                count=int(count) if count is not None else None,
            )
        return Response(200, ok)
    match = re.fullmatch(r"/_control/messages/([^/]+)/ack", path)
    if match:
        try:
            sim.ack(unquote(match.group(1)), required_str(data, "ack"), data.get("participant"))
        except GatewayRefusal as refusal:
            return Response(refusal.status, {"error": refusal.error})
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
        sim.reject_jid(required_str(data, "jid"))
        return Response(200, ok)
    if path == "/_control/failures":
        sim.add_failure(
            path=required_str(data, "path"),
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
