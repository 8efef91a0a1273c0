"""Evolution API v2 (EvolutionAPI/evolution-api, Baileys integration) over the simulator state:
`--dialect evolution --variant 2.3|2.2`.

Shapes read (never copied) from the source of Evolution API 2.3.6 (commit 3454bec7: instance,
group and message routers and controllers, `instance.guard.ts`, `auth.guard.ts`, the error
handler of `main.ts`, `whatsapp.baileys.service.ts` `connectionUpdate` / `messages.update` /
`group-participants.update`, `channel.service.ts` `sendDataWebhook`, `webhook.controller.ts`)
and its OpenAPI document (docs-evolution `openapi-v2.json`, "version 2.1.1"); the same versions as
tests/fixtures/evolution/README.md. Variants:

- `2.3` (default): 2.3.6 as read; a send on a closed connection answers 400
  ["Error: Connection Closed"] (issue #2229, 2.3.6); `group-participants.update` carries
  `participantsData` (added in 2.3.5).
- `2.2`: 2.2.3 (tag 2.2.3): fetchInstances rows without `Nats`, no `participantsData`, and a send
  on a closed connection answers 500 {"message": "Connection Closed"} (issue #1286, 2.2.3).

Auth: header `apikey` = the global key, or the instance's own token (`hash`) on its routes.
States: connecting → "connecting", connected → "open", disconnected → "close". A group list
on a closed connection answers 500 "Connection Closed" (Baileys throws; nothing catches it), a
participant list 404 ["No participants", "Error: Connection Closed"] (findParticipants catches).

Webhooks in Evolution's envelope (`event`, `instance`, `data`, `destination`, `date_time`,
`sender`, `server_url`, `apikey`) go to the instance's webhook (`webhook` of /instance/create or
`POST /webhook/set/{instance}`: url, headers, byEvents, events in upper case) and to the global
target (`webhook_url`, or `webhook_base` + /api/webhooks/evolution/), which gets `X-Api-Key` =
webhook_api_key (a real global webhook sends no headers: configure the key per instance there).
Events: `connection.update`, `messages.update` (status "ERROR" for a late refusal),
`group-participants.update`.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from gateway_simulator.base import (
    BadRequest,
    Dialect,
    Request,
    Response,
    Webhook,
    hex_id,
    json_object,
    whatsapp_qr,
)
from gateway_simulator.members import privacy_id

if TYPE_CHECKING:
    from gateway_simulator.state import SimulatedSession, SimulatorState

VERSIONS = {"2.3": "2.3.6", "2.2": "2.2.3"}
CLIENT_NAME = "evolution_exchange"
PROFILE_NAME = "Simulated Desk"
INTEGRATION = "WHATSAPP-BAILEYS"
STATES = {"connecting": "connecting", "connected": "open", "disconnected": "close"}
ACK_STATUS = {
    "error": "ERROR",
    "server": "SERVER_ACK",
    "delivered": "DELIVERY_ACK",
    "read": "READ",
    "played": "PLAYED",
}
# The events the simulator emits (an instance webhook enabled without a list gets them all).
ALL_EVENTS = ("QRCODE_UPDATED", "CONNECTION_UPDATE", "MESSAGES_UPDATE", "GROUP_PARTICIPANTS_UPDATE")
# A 1×1 PNG: the simulator's QR is text (`code`); nobody should scan its `base64`.
PLACEHOLDER_PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8"
    "/x8AAwMCAO+ip1sAAAAASUVORK5CYII="
)


class EvolutionError(Exception):
    def __init__(self, status: int, message: Any) -> None:
        super().__init__(str(message))
        self.status = status
        self.message = message


def evolution_error(status: int, message: Any) -> Response:
    """Evolution's error body (the error handler of main.ts)."""
    reason = {
        400: "Bad Request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not Found",
        500: "Internal Server Error",
    }.get(status, "Error")
    return Response(status, {"status": status, "error": reason, "response": {"message": message}})


def s_whatsapp(phone_or_jid: str) -> str:
    return phone_or_jid if "@" in phone_or_jid else f"{phone_or_jid}@s.whatsapp.net"


class EvolutionDialect(Dialect):
    name = "evolution"
    variants = ("2.3", "2.2")
    webhook_path = "/api/webhooks/evolution/"

    def new_message_id(self) -> str:
        return hex_id("BAE5", 16)  # Baileys' message ids

    def qr_value(self, session_id: str, rotation: int) -> str:
        return whatsapp_qr(session_id, rotation)

    # --- HTTP ------------------------------------------------------------------------------------
    def handle(self, sim: SimulatorState, request: Request) -> Response:
        from gateway_simulator.state import GatewayRefusal

        if request.path == "/" and request.method == "GET":
            return Response(
                200,
                {
                    "status": 200,
                    "message": "Welcome to the Evolution API, it is working!",
                    "version": VERSIONS[str(self.variant)],
                    "clientName": CLIENT_NAME,
                    "documentation": "https://doc.evolution-api.com",
                },
            )
        match = re.fullmatch(r"/(\w+)/(\w+)(?:/([^/]+))?", request.path)
        name = unquote(match.group(3)) if match and match.group(3) else None
        if not self._authorized(sim, request, name):
            return evolution_error(401, "Unauthorized")
        try:
            if match is None:
                raise EvolutionError(404, [f"Cannot {request.method} {request.path}"])
            return self._route(sim, request, match.group(1), match.group(2), name)
        except BadRequest as exc:
            return evolution_error(400, [str(exc)])
        except EvolutionError as exc:
            return evolution_error(exc.status, exc.message)
        except GatewayRefusal as refusal:
            if refusal.status == 404:
                return evolution_error(404, [f'The "{name}" instance does not exist'])
            return evolution_error(500, "Connection Closed")

    def _authorized(self, sim: SimulatorState, request: Request, name: str | None) -> bool:
        key = request.header("apikey")
        if not key:
            return False
        if key == sim.api_key:
            return True
        if name and sim.session_exists(name):
            return sim.session_view(name).extra.get("token") == key
        return False

    def _route(
        self, sim: SimulatorState, request: Request, area: str, call: str, name: str | None
    ) -> Response:
        method = request.method
        if (area, call, method) == ("instance", "create", "POST"):
            return self._create(sim, json_object(request.raw))
        if (area, call, method) == ("instance", "fetchInstances", "GET"):
            wanted = request.query.get("instanceName")
            if wanted and not sim.session_exists(wanted):
                raise EvolutionError(404, [f'Instance "{wanted}" not found'])
            names = [wanted] if wanted else [s["sessionId"] for s in sim.state()["sessions"]]
            return Response(200, [self._instance_row(sim.session_view(n)) for n in names])
        if name is None:
            raise EvolutionError(400, ['"instanceName" not provided.'])
        session = sim.session_view(name)  # an unknown instance answers 404
        if (area, call, method) == ("instance", "connectionState", "GET"):
            return Response(
                200, {"instance": {"instanceName": name, "state": self._state(session)}}
            )
        if (area, call, method) == ("instance", "connect", "GET"):
            if session.status == "connected":
                return Response(200, {"instance": {"instanceName": name, "state": "open"}})
            if session.status == "disconnected":
                sim.session_start(name)
            return Response(200, self._qrcode(sim, name))
        if (area, call, method) == ("instance", "logout", "DELETE"):
            if session.status == "disconnected":
                raise EvolutionError(400, [f'The "{name}" instance is not connected'])
            sim.session_logout(name)
            return Response(
                200,
                {
                    "status": "SUCCESS",
                    "error": False,
                    "response": {"message": "Instance logged out"},
                },
            )
        if (area, call, method) == ("webhook", "set", "POST"):
            hook = _webhook_config(json_object(request.raw).get("webhook"), enabled_default=False)
            sim.session_update(name, webhook=hook)
            return Response(201, self._webhook_row(session, hook))
        if (area, call, method) == ("webhook", "find", "GET"):
            hook = session.extra.get("webhook")
            return Response(200, self._webhook_row(session, hook) if hook else None)
        if (area, call, method) == ("group", "fetchAllGroups", "GET"):
            if request.query.get("getParticipants") not in ("true", "false"):
                raise BadRequest("The getParticipants needs to be informed in the query")
            return Response(200, [self._group(g, session) for g in sim.session_groups(name)])
        if (area, call, method) == ("group", "participants", "GET"):
            return self._participants(sim, name, request.query.get("groupJid"))
        if (area, call, method) == ("message", "sendText", "POST"):
            return self._send(sim, session, json_object(request.raw))
        raise EvolutionError(404, [f"Cannot {method} {request.path}"])

    def _create(self, sim: SimulatorState, data: dict[str, Any]) -> Response:
        name = data.get("instanceName")
        if not isinstance(name, str) or not re.fullmatch(r"[\w.-]+", name):
            raise BadRequest('instance requires property "instanceName"')
        integration = data.get("integration") or INTEGRATION
        if integration != INTEGRATION:
            raise BadRequest(f"the simulator speaks the {INTEGRATION} integration only")
        if sim.session_exists(name):
            raise EvolutionError(403, [f'This name "{name}" is already in use.'])
        hook = (
            _webhook_config(data.get("webhook"), enabled_default=True)
            if data.get("webhook")
            else None
        )
        extra = {
            "token": str(data.get("token") or uuid.uuid4()).upper(),
            "instanceId": str(uuid.uuid4()),
            "webhook": hook,
        }
        sim.session_start(name, extra)
        body: dict[str, Any] = {
            "instance": {
                "instanceName": name,
                "instanceId": extra["instanceId"],
                "integration": INTEGRATION,
                "webhookWaBusiness": None,
                "accessTokenWaBusiness": "",
                "status": "connecting",
            },
            "hash": extra["token"],
            "webhook": {
                "webhookUrl": hook["url"],
                "webhookHeaders": hook["headers"],
                "webhookByEvents": hook["byEvents"],
                "webhookBase64": hook["base64"],
            }
            if hook
            else {},
            "settings": {"rejectCall": False, "groupsIgnore": False, "alwaysOnline": False},
        }
        if data.get("qrcode"):
            body["qrcode"] = self._qrcode(sim, name)
        return Response(201, body)

    def _send(
        self, sim: SimulatorState, session: SimulatedSession, data: dict[str, Any]
    ) -> Response:
        from gateway_simulator.state import GatewayRefusal

        number, text = data.get("number"), data.get("text")
        if not isinstance(number, str) or not number.strip():
            raise BadRequest('instance requires property "number"')
        if not isinstance(text, str):
            raise BadRequest('instance requires property "text"')
        jid = number if "@" in number else s_whatsapp(re.sub(r"\D", "", number))
        try:
            message_id = sim.send(
                session_id=session.session_id, to=jid, message=text, client_message_id=None
            )
        except GatewayRefusal as refusal:
            if refusal.status != 503:
                raise
            if self.variant == "2.2":
                raise EvolutionError(500, "Connection Closed") from None
            raise EvolutionError(400, ["Error: Connection Closed"]) from None
        return Response(
            201,
            {
                "key": {"remoteJid": jid, "fromMe": True, "id": message_id},
                "pushName": PROFILE_NAME,
                "status": "PENDING",
                "message": {"conversation": text},
                "contextInfo": None,
                "messageType": "conversation",
                "messageTimestamp": int(time.time()),
                "instanceId": session.extra.get("instanceId"),
                "source": "unknown",
            },
        )

    def _participants(self, sim: SimulatorState, name: str, jid: str | None) -> Response:
        from gateway_simulator.state import GatewayRefusal

        if not jid:
            raise BadRequest("The group id needs to be informed in the query")
        try:
            members = sim.group_participants(name, jid)
        except GatewayRefusal as refusal:
            reason = "Connection Closed" if refusal.status == 503 else "item-not-found"
            raise EvolutionError(404, ["No participants", f"Error: {reason}"]) from None
        return Response(200, {"participants": [self._participant(m) for m in members]})

    def _participant(self, member: dict[str, Any]) -> dict[str, Any]:
        """A member {"id", "rank"} as Baileys lists it. 2.3 (Baileys 7) names the members of a
        LID-addressed group by privacy id, with the number in `phoneNumber`."""
        pid = str(member.get("id") or "")
        admin = {"creator": "superadmin", "admin": "admin"}.get(member.get("rank"))
        if "@" in pid:  # a privacy id whose number nobody knows
            return {"id": pid, "admin": admin}
        if self.variant == "2.3":
            return {"id": privacy_id(pid), "phoneNumber": s_whatsapp(pid), "admin": admin}
        return {"id": s_whatsapp(pid), "admin": admin}

    # --- shapes ----------------------------------------------------------------------------------
    @staticmethod
    def _state(session: SimulatedSession) -> str:
        return STATES[session.status]

    def _qrcode(self, sim: SimulatorState, name: str) -> dict[str, Any]:
        rotation = sim.session_qr_rotation(name)
        code = self.qr_value(name, rotation) if rotation is not None else None
        return {
            "pairingCode": None,
            "code": code,
            "base64": PLACEHOLDER_PNG,
            "count": 1 + (rotation or 0),
        }

    def _instance_row(self, session: SimulatedSession) -> dict[str, Any]:
        open_ = session.status == "connected" and session.phone_number
        created = datetime.fromtimestamp(session.created_at).isoformat(timespec="milliseconds")
        row: dict[str, Any] = {
            "id": session.extra.get("instanceId")
            or str(uuid.uuid5(uuid.NAMESPACE_URL, session.session_id)),
            "name": session.session_id,
            "connectionStatus": self._state(session),
            "ownerJid": s_whatsapp(str(session.phone_number)) if open_ else None,
            "profileName": PROFILE_NAME if open_ else None,
            "profilePicUrl": None,
            "integration": INTEGRATION,
            "number": None,
            "businessId": None,
            "token": session.extra.get("token"),
            "clientName": CLIENT_NAME,
            "disconnectionReasonCode": 401 if session.status == "disconnected" else None,
            "disconnectionObject": None,
            "disconnectionAt": None,
            "createdAt": created + "Z",
            "updatedAt": created + "Z",
            "Chatwoot": None,
            "Proxy": None,
            "Rabbitmq": None,
            "Nats": None,
            "Sqs": None,
            "Websocket": None,
            "Setting": {"rejectCall": False, "groupsIgnore": False, "alwaysOnline": False},
            "_count": {"Message": 0, "Contact": 0, "Chat": 0},
        }
        if self.variant == "2.2":
            del row["Nats"]
        return row

    @staticmethod
    def _webhook_row(session: SimulatedSession, hook: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "webhook|" + session.session_id)),
            "url": hook["url"],
            "headers": hook["headers"],
            "enabled": hook["enabled"],
            "events": hook["events"],
            "webhookByEvents": hook["byEvents"],
            "webhookBase64": hook["base64"],
            "instanceId": session.extra.get("instanceId"),
        }

    @staticmethod
    def _group(g: dict[str, Any], session: SimulatedSession) -> dict[str, Any]:
        owner = s_whatsapp(session.phone_number) if session.phone_number else None
        community = bool(g.get("isCommunity") or g.get("isCommunityAnnounce"))
        return {
            "id": g["id"],
            "subject": g.get("subject"),
            "subjectOwner": owner,
            "subjectTime": 1_700_000_000,
            "pictureUrl": None,
            "size": g.get("size"),
            "creation": 1_700_000_000,
            "owner": owner,
            "desc": None,
            "descId": None,
            "restrict": community,
            "announce": community,
            "isCommunity": bool(g.get("isCommunity")),
            "isCommunityAnnounce": bool(g.get("isCommunityAnnounce")),
            "linkedParent": g.get("linkedParent"),
        }

    # --- webhooks --------------------------------------------------------------------------------
    def webhooks(self, sim: SimulatorState, event: dict[str, Any]) -> list[Webhook]:
        session = sim.session_locked(event["sessionId"])
        name, kind = event["sessionId"], event["event"]
        data: dict[str, Any]
        if kind == "session_starting":
            evolution_event = "connection.update"
            data = {"instance": name, "state": "connecting", "statusReason": 200}
        elif kind == "session_status":
            evolution_event = "connection.update"
            state = STATES[event["status"]]
            data = {"instance": name, "state": state, "statusReason": 200}
            if state == "open":
                data |= {
                    "wuid": s_whatsapp(event["phoneNumber"]),
                    "profileName": PROFILE_NAME,
                    "profilePictureUrl": None,
                }
            elif state == "close":
                data["statusReason"] = 401 if event.get("error") is None else 428
        elif kind in ("message_error", "message_ack"):
            evolution_event = "messages.update"
            chat = event.get("groupJid") or event.get("chatJid")
            data = {
                "messageId": "cm" + uuid.uuid4().hex[:23],  # Evolution's own row id, not WhatsApp's
                "keyId": event["messageId"],
                "remoteJid": chat,
                "fromMe": True,
                "status": ACK_STATUS[event.get("ack", "error")],
                "instanceId": session.extra.get("instanceId") if session else None,
            }
            if event.get("participant"):
                data["participant"] = s_whatsapp(event["participant"])
        elif kind == "group_participants":
            evolution_event = "group-participants.update"
            jids = [s_whatsapp(p) for p in event["participants"]]
            data = {"id": event["groupJid"], "participants": jids, "action": event["action"]}
            if self.variant == "2.3":
                data["participantsData"] = [
                    {"jid": j, "phoneNumber": j.split("@")[0], "name": None, "imgUrl": None}
                    for j in jids
                ]
        else:
            return []
        return self._deliveries(sim, session, name, evolution_event, data)

    def _deliveries(
        self,
        sim: SimulatorState,
        session: SimulatedSession | None,
        name: str,
        event: str,
        data: dict[str, Any],
    ) -> list[Webhook]:
        upper = event.replace(".", "_").replace("-", "_").upper()  # CONNECTION_UPDATE
        suffix = upper.replace("_", "-").lower()  # connection-update
        hook = session.extra.get("webhook") if session else None
        owner = s_whatsapp(session.phone_number) if session and session.phone_number else None
        envelope: dict[str, Any] = {
            "event": event,
            "instance": name,
            "data": data,
            "destination": None,
            "date_time": datetime.now().isoformat(timespec="milliseconds") + "Z",
            "sender": owner,
            "server_url": sim.url if hasattr(sim, "url") else None,
            "apikey": session.extra.get("token") if session else None,
        }
        if owner is None:
            del envelope["sender"]
        targets: list[tuple[str, dict[str, str]]] = []
        if hook and hook["enabled"] and hook["url"] and upper in hook["events"]:
            url = f"{hook['url'].rstrip('/')}/{suffix}" if hook["byEvents"] else hook["url"]
            targets.append((url, dict(hook["headers"])))
        global_url = self.global_url(sim)
        if global_url:
            headers = {"X-Api-Key": sim.webhook_api_key} if sim.webhook_api_key else {}
            targets.append((global_url, headers))
        envelope["destination"] = hook["url"] if hook else (global_url or "")
        return [
            Webhook(url, envelope, {"User-Agent": "axios/1.7.9", **headers})
            for url, headers in targets
        ]


def _webhook_config(raw: Any, *, enabled_default: bool) -> dict[str, Any]:
    """An instance's webhook, as /instance/create (`webhook`) or /webhook/set sets it."""
    if not isinstance(raw, dict):
        raise BadRequest('instance requires property "webhook"')
    url = raw.get("url")
    if not isinstance(url, str) or not re.match(r"https?://", url):
        raise BadRequest('"webhook.url" must be an http(s) URL')
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise BadRequest('"webhook.headers" must be an object of strings')
    events = raw.get("events") or []
    if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
        raise BadRequest('"webhook.events" must be an array of event names')
    enabled = raw.get("enabled", enabled_default)
    return {
        "url": url,
        "headers": headers,
        "enabled": bool(enabled),
        # As webhook.controller: enabled with no events = all events; disabled = none.
        "events": [e.upper() for e in events] if events or not enabled else list(ALL_EVENTS),
        "byEvents": bool(raw.get("byEvents")),
        "base64": bool(raw.get("base64")),
    }
