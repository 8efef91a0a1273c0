"""Our own gateway protocol (INTERFACE.md §4) and its webhooks (§5, §8, §9): the default dialect.

Every call needs `X-API-Key`; errors are `{"error"}`: 401 wrong key, 400 bad body, 404 unknown
session (or a group the session is not in), 503 session not connected. A group's members:
`GET /sessions/{id}/groups/{jid}/participants` → {"participants": [{"id", "rank"}]} (members.py). Webhooks go to `<webhook_base>/api/webhooks/whatsapp/...`
with `X-API-Key` and, when a secret is set, `X-Webhook-Hmac`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from gateway_simulator.base import (
    BadRequest,
    Dialect,
    Request,
    Response,
    Webhook,
    json_object,
    required_str,
)

if TYPE_CHECKING:
    from gateway_simulator.state import SimulatorState

WEBHOOK_PATHS = {
    "session_status": "/api/webhooks/whatsapp/status/",
    "message_error": "/api/webhooks/whatsapp/message-error/",
    "message_ack": "/api/webhooks/whatsapp/message-ack/",
    "group_participants": "/api/webhooks/whatsapp/group-participants/",
}
# Kept for the tests and docs that name them.
STATUS_WEBHOOK_PATH = WEBHOOK_PATHS["session_status"]
MESSAGE_ERROR_WEBHOOK_PATH = WEBHOOK_PATHS["message_error"]


class VpsDialect(Dialect):
    name = "vps"
    webhook_path = "/api/webhooks/whatsapp/"

    def handle(self, sim: SimulatorState, request: Request) -> Response:
        from gateway_simulator.state import GatewayRefusal

        if request.header("X-API-Key") != sim.api_key:
            return Response(401, {"error": "invalid API key"})
        try:
            return self._route(sim, request.method, request.path, request.raw)
        except BadRequest as exc:
            return Response(400, {"error": str(exc)})
        except GatewayRefusal as refusal:
            return Response(refusal.status, {"error": refusal.error})

    def _route(self, sim: SimulatorState, method: str, path: str, raw: bytes) -> Response:
        if path == "/sessions" and method == "POST":
            session_id = required_str(json_object(raw), "sessionId")
            if "/" in session_id or any(ch.isspace() for ch in session_id):
                raise BadRequest("sessionId must not contain '/' or whitespace")
            created = sim.session_start(session_id)
            return Response(
                201 if created else 200, {"sessionId": session_id, "status": "connecting"}
            )

        if path == "/send" and method == "POST":
            return _send(sim, json_object(raw))

        match = re.fullmatch(r"/sessions/([^/]+)/groups/([^/]+)/participants", path)
        if match:
            if method != "GET":
                return Response(405, {"error": f"{method} not allowed on {path}"})
            members = sim.group_participants(unquote(match.group(1)), unquote(match.group(2)))
            return Response(
                200,
                {
                    "participants": [
                        {"id": m.get("id"), "rank": m.get("rank") or "member"} for m in members
                    ]
                },
            )

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
            rotation = sim.session_qr_rotation(session_id)
            if rotation is None:
                return Response(404, {"error": f"No QR code: session is {session.status}"})
            return Response(200, {"qr": self.qr_value(session_id, rotation)})
        return Response(200, {"groups": sim.session_groups(session_id)})

    def webhooks(self, sim: SimulatorState, event: dict[str, Any]) -> list[Webhook]:
        path = WEBHOOK_PATHS.get(event["event"])
        if path is None or not (sim.webhook_base or sim.webhook_url):
            return []
        payload = dict(event)
        if event["event"] == "message_ack":
            payload.pop("chatJid", None)
            if payload.get("participant") is None:
                payload.pop("participant", None)
        headers = {"X-API-Key": sim.webhook_api_key} if sim.webhook_api_key else {}
        url = sim.webhook_base + path if sim.webhook_base else str(sim.webhook_url)
        return [Webhook(url, payload, headers, sim.webhook_hmac_secret)]


def _send(sim: SimulatorState, data: dict[str, Any]) -> Response:
    session_id = required_str(data, "sessionId")
    to = required_str(data, "to")
    message = required_str(data, "message")
    client_message_id = data.get("clientMessageId")
    if client_message_id is not None and not isinstance(client_message_id, str):
        raise BadRequest("clientMessageId must be a string")
    if "@" not in to:
        raise BadRequest(f"'to' is not a WhatsApp JID: {to!r}")
    message_id = sim.send(
        session_id=session_id, to=to, message=message, client_message_id=client_message_id
    )
    return Response(200, {"messageId": message_id})
