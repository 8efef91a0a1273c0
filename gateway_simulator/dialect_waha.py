"""WAHA (devlikeapro/waha) over the simulator state: `--dialect waha --variant WEBJS|NOWEB|GOWS`.

Shapes read (never copied) from WAHA's OpenAPI document (WAHA 2026.7.1, `static/swagger/
openapi.json` of devlikeapro/waha-docs) and its docs (`content/docs/how-to/events`, groups
events), and from the source of WAHA 2024.10.8 (devlikeapro/waha commit 55fc6a42: sessions
controller, `manager.abc.ts` `waitUntilStatus`, `webhooks.core.ts`, the NOWEB engine's acks); the
same versions as tests/fixtures/waha/README.md. The engine (variant) changes the group list and
the sendText answer, as on a real server:

| engine | GET /api/{s}/groups                        | POST /api/sendText answer                 |
|--------|--------------------------------------------|-------------------------------------------|
| WEBJS  | array of GroupChat (`id._serialized`, `groupMetadata.isParentGroup/defaultSubgroup`) | Message, `id` {"id", "_serialized"} |
| NOWEB  | object keyed by JID of Baileys GroupMetadata (`isCommunity`, `isCommunityAnnounce`) | WebMessageInfo, `key.id` |
| GOWS   | array of whatsmeow GroupInfo (`JID`, `Name`, `IsParent`, `IsDefaultSubGroup`, `ParticipantCount`) | `id` "true_<chat>_<id>", `_data.Info` |

Auth: `X-Api-Key`. Session states: connecting → SCAN_QR_CODE (STARTING in the create answer),
connected → WORKING, disconnected → FAILED (with an error) or STOPPED (logged out). Calls that
need another state answer 422 "Session status is not as expected" at once (WAHA first waits up to
5 s). Group lists carry `size`/`ParticipantCount` but no participant entries; the members of a
group come from `GET /api/{s}/groups/{id}/participants/v2` (waha_shapes.waha_participant; 404
for a group the session is not in).

Webhooks in WAHA's envelope (`id` evt_<ulid>, `timestamp` ms, `event`, `session`, `metadata`,
`me`, `payload`, `engine`, `environment`) go to the session's `config.webhooks` (url, events,
`hmac.key` → `X-Webhook-Hmac` + `X-Webhook-Hmac-Algorithm: sha512`, `customHeaders`) and to the
global target (`webhook_url`, or `webhook_base` + /api/webhooks/waha/, with `X-Api-Key` =
webhook_api_key and the HMAC secret, as WHATSAPP_HOOK_* would set). Events: `session.status`,
`message.ack` (ERROR -1 for a late refusal) / `message.ack.group` (a participant's receipt),
`group.v2.participants`.
"""

from __future__ import annotations

import hashlib
import re
import time
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
    ulid,
    whatsapp_qr,
)
from gateway_simulator.waha_shapes import (
    c_us,
    gows_group,
    noweb_group,
    waha_participant,
    webjs_group,
)

if TYPE_CHECKING:
    from gateway_simulator.state import SimulatedSession, SimulatorState

VERSION = "2026.7.1"
NOT_EXPECTED = "Session status is not as expected. Try again later or restart the session"
PUSH_NAME = "Simulated Desk"
ACKS = {"error": (-1, "ERROR"), "server": (1, "SERVER"), "delivered": (2, "DEVICE")}
ACKS |= {"read": (3, "READ"), "played": (4, "PLAYED")}
PARTICIPANT_CHANGES = {
    "add": ("join", "participant"),
    "remove": ("leave", "left"),
    "promote": ("promote", "admin"),
    "demote": ("demote", "participant"),
}


class NotExpected(Exception):
    def __init__(self, name: str, status: str, expected: list[str]) -> None:
        super().__init__(NOT_EXPECTED)
        self.body = {"error": NOT_EXPECTED, "session": name, "status": status, "expected": expected}


def nest_error(status: int, message: Any, error: str) -> Response:
    """NestJS's error body, as WAHA answers its HTTP exceptions."""
    return Response(status, {"message": message, "error": error, "statusCode": status})


def waha_status(session: SimulatedSession) -> str:
    if session.status == "connected":
        return "WORKING"
    if session.status == "connecting":
        return "SCAN_QR_CODE"
    return "FAILED" if session.error else "STOPPED"


class WahaDialect(Dialect):
    name = "waha"
    variants = ("WEBJS", "NOWEB", "GOWS")
    webhook_path = "/api/webhooks/waha/"

    def new_message_id(self) -> str:
        # WhatsApp Web ids (WEBJS, GOWS) start 3EB0; Baileys' (NOWEB) BAE5. Never an underscore:
        # WAHA joins ids as <fromMe>_<chat>_<id>.
        return hex_id("BAE5", 16) if self.variant == "NOWEB" else hex_id("3EB0", 20)

    def qr_value(self, session_id: str, rotation: int) -> str:
        return whatsapp_qr(session_id, rotation)

    # --- HTTP ------------------------------------------------------------------------------------
    def handle(self, sim: SimulatorState, request: Request) -> Response:
        from gateway_simulator.state import GatewayRefusal

        if request.path in ("/ping", "/health"):
            return Response(
                200, {"message": "pong"} if request.path == "/ping" else {"status": "ok"}
            )
        if request.header("X-Api-Key") != sim.api_key:
            return Response(401, {"message": "Unauthorized", "statusCode": 401})
        try:
            return self._route(sim, request)
        except BadRequest as exc:
            return nest_error(400, [str(exc)], "Bad Request")
        except NotExpected as exc:
            return Response(422, exc.body)
        except GatewayRefusal as refusal:
            if refusal.status == 404:
                return nest_error(404, "Session not found", "Not Found")
            return nest_error(refusal.status, refusal.error, "Error")

    def _route(self, sim: SimulatorState, request: Request) -> Response:
        method, path = request.method, request.path
        if method == "GET" and path in ("/api/server/version", "/api/version"):
            return Response(200, self._environment())
        if path == "/api/sessions" and method == "POST":
            return self._create(sim, json_object(request.raw))
        if path == "/api/sessions" and method == "GET":
            names = [s["sessionId"] for s in sim.state()["sessions"]]
            return Response(200, [self._info(sim.session_view(n)) for n in names])
        if path == "/api/sendText" and method == "POST":
            return self._send(sim, json_object(request.raw))

        match = re.fullmatch(r"/api/sessions/([^/]+)(?:/(start|restart|me))?", path)
        if match:
            name, action = unquote(match.group(1)), match.group(2)
            if action in ("start", "restart") and method == "POST":
                config = sim.session_view(name).extra.get("config")
                sim.session_start(name)
                return Response(201, {"name": name, "status": "STARTING", "config": config})
            if action == "me" and method == "GET":
                return Response(200, self._me(sim.session_view(name)))
            if action is None and method == "GET":
                return Response(200, self._info(sim.session_view(name)))
            if action is None and method == "PUT":
                config = _config(json_object(request.raw))
                session = sim.session_update(name, config=config)
                return Response(
                    200, {"name": name, "status": waha_status(session), "config": config}
                )
            if action is None and method == "DELETE":
                sim.session_delete(name)
                return Response(200, None)
        match = re.fullmatch(r"/api/([^/]+)/groups/([^/]+)/participants/v2", path)
        if match and method == "GET":
            return self._participants(sim, unquote(match.group(1)), unquote(match.group(2)))
        match = re.fullmatch(r"/api/([^/]+)/(auth/qr|groups)", path)
        if match and method == "GET":
            name = unquote(match.group(1))
            if match.group(2) == "groups":
                return Response(200, self._groups(sim, name))
            if request.query.get("format") != "raw":
                raise BadRequest("the simulator serves the QR code as format=raw only")
            rotation = sim.session_qr_rotation(name)
            if rotation is None:
                status = waha_status(sim.session_view(name))
                raise NotExpected(name, status, ["SCAN_QR_CODE"])
            return Response(200, {"value": self.qr_value(name, rotation)})
        return nest_error(404, f"Cannot {method} {path}", "Not Found")

    def _create(self, sim: SimulatorState, data: dict[str, Any]) -> Response:
        name = data.get("name") or "default"
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise BadRequest("name must be letters, digits, '_', '-' or '.'")
        if data.get("start") is False:
            raise BadRequest("the simulator starts sessions when it creates them (start: false)")
        if sim.session_exists(name):
            return nest_error(
                422,
                f"Session '{name}' already exists. Use PUT to update it.",
                "Unprocessable Entity",
            )
        config = _config(data)
        sim.session_start(name, {"config": config})
        return Response(201, {"name": name, "status": "STARTING", "config": config})

    def _send(self, sim: SimulatorState, data: dict[str, Any]) -> Response:
        from gateway_simulator.state import GatewayRefusal

        name = data.get("session") or "default"
        chat, text = data.get("chatId"), data.get("text")
        if not isinstance(chat, str) or "@" not in chat:
            raise BadRequest("chatId must be a WhatsApp chat id (…@c.us, …@g.us)")
        if not isinstance(text, str):
            raise BadRequest("text must be a string")
        try:
            message_id = sim.send(session_id=name, to=chat, message=text, client_message_id=None)
        except GatewayRefusal as refusal:
            if refusal.status != 503:
                raise
            raise NotExpected(name, waha_status(sim.session_view(name)), ["WORKING"]) from None
        me = sim.session_view(name).phone_number or ""
        return Response(201, self._sent(message_id, chat, text, me))

    def _groups(self, sim: SimulatorState, name: str) -> Any:
        from gateway_simulator.state import GatewayRefusal

        try:
            groups = sim.session_groups(name)
        except GatewayRefusal as refusal:
            if refusal.status != 503:
                raise
            raise NotExpected(name, waha_status(sim.session_view(name)), ["WORKING"]) from None
        owner = sim.session_view(name).phone_number or ""
        if self.variant == "NOWEB":
            return {g["id"]: noweb_group(g, owner) for g in groups}
        if self.variant == "GOWS":
            return [gows_group(g, owner) for g in groups]
        return [webjs_group(g, owner) for g in groups]

    def _participants(self, sim: SimulatorState, name: str, jid: str) -> Response:
        from gateway_simulator.state import GatewayRefusal

        try:
            members = sim.group_participants(name, jid)
        except GatewayRefusal as refusal:
            if refusal.status == 404 and sim.session_exists(name):
                return nest_error(404, f"Group {jid} not found", "Not Found")
            if refusal.status != 503:
                raise
            raise NotExpected(name, waha_status(sim.session_view(name)), ["WORKING"]) from None
        lid = self.variant != "WEBJS"
        return Response(200, [waha_participant(m, lid_addressed=lid) for m in members])

    # --- shapes ----------------------------------------------------------------------------------
    def _environment(self) -> dict[str, Any]:
        browser = "/usr/bin/google-chrome-stable" if self.variant == "WEBJS" else None
        return {
            "version": VERSION,
            "engine": self.variant,
            "tier": "PLUS",
            "browser": browser,
            "platform": "linux/x64",
            "worker": {"id": None},
        }

    def _me(self, session: SimulatedSession) -> dict[str, Any] | None:
        if session.status != "connected" or not session.phone_number:
            return None
        phone = session.phone_number
        me: dict[str, Any] = {"id": c_us(phone), "pushName": PUSH_NAME}
        if self.variant != "WEBJS":
            lid = int(hashlib.sha256(phone.encode()).hexdigest()[:14], 16)
            me |= {"lid": f"{lid}@lid", "jid": f"{phone}:12@s.whatsapp.net"}
        return me

    def _info(self, session: SimulatedSession) -> dict[str, Any]:
        working = session.status == "connected"
        return {
            "name": session.session_id,
            "status": waha_status(session),
            "config": session.extra.get("config"),
            "me": self._me(session),
            "assignedWorker": "",
            "presence": "online" if working else None,
            "timestamps": {"activity": int(time.time() * 1000) if working else None},
        }

    def _sent(self, message_id: str, chat: str, text: str, me: str) -> dict[str, Any]:
        now = int(time.time())
        serialized = f"true_{chat}_{message_id}"
        if self.variant == "NOWEB":
            return {
                "key": {"remoteJid": chat, "fromMe": True, "id": message_id},
                "message": {"extendedTextMessage": {"text": text}},
                "messageTimestamp": str(now),
                "status": "PENDING",
            }
        if self.variant == "GOWS":
            if chat.endswith("@g.us") and me:
                serialized += f"_{c_us(me)}"
            info = {"ID": message_id, "Chat": chat, "IsFromMe": True, "IsGroup": "@g.us" in chat}
            return {"id": serialized, "_data": {"Info": info, "Message": {"conversation": text}}}
        wid = {"fromMe": True, "remote": chat, "id": message_id, "_serialized": serialized}
        data = {"id": wid, "body": text, "type": "chat", "t": now, "ack": 0}
        return {
            "_data": data,
            "id": wid,
            "ack": 0,
            "hasMedia": False,
            "body": text,
            "type": "chat",
            "timestamp": now,
            "from": c_us(me) if me else None,
            "to": chat,
            "deviceType": "web",
            "isForwarded": False,
            "fromMe": True,
        }

    # --- webhooks --------------------------------------------------------------------------------
    def webhooks(self, sim: SimulatorState, event: dict[str, Any]) -> list[Webhook]:
        session = sim.session_locked(event["sessionId"])
        out: list[tuple[str, dict[str, Any]]] = []
        kind = event["event"]
        me = (session.phone_number or "") if session else ""
        if kind == "session_starting":
            out = [
                ("session.status", self._status_payload(session, status))
                for status in ("STARTING", "SCAN_QR_CODE")
            ]
        elif kind == "session_status" and session is not None:
            out = [("session.status", self._status_payload(session, waha_status(session)))]
        elif kind == "message_error":
            body = _ack_body(self.variant, me, event["groupJid"], event["messageId"], None, "error")
            out = [("message.ack", body)]
        elif kind == "message_ack":
            participant = event.get("participant")
            chat, ack = event["chatJid"], event["ack"]
            body = _ack_body(self.variant, me, chat, event["messageId"], participant, ack)
            group_receipt = participant and event["chatJid"].endswith("@g.us")
            out = [("message.ack.group" if group_receipt else "message.ack", body)]
        elif kind == "group_participants":
            change, role = PARTICIPANT_CHANGES[event["action"]]
            out = [
                (
                    "group.v2.participants",
                    {
                        "type": change,
                        "timestamp": int(time.time()),
                        "group": {"id": event["groupJid"]},
                        "participants": [
                            {"id": c_us(p), "role": role} for p in event["participants"]
                        ],
                        "_data": {},
                    },
                )
            ]
        return [
            hook
            for name, payload in out
            for hook in self._deliveries(sim, session, event["sessionId"], name, payload)
        ]

    def _status_payload(self, session: SimulatedSession | None, status: str) -> dict[str, Any]:
        history: list[dict[str, Any]] = []
        if session is not None:
            history = session.extra.setdefault("statuses", [])
            history.append({"status": status, "timestamp": int(time.time() * 1000)})
            del history[:-3]
        name = session.session_id if session else None
        return {"name": name, "status": status, "statuses": list(history), "data": None}

    def _deliveries(
        self,
        sim: SimulatorState,
        session: SimulatedSession | None,
        name: str,
        event: str,
        payload: dict[str, Any],
    ) -> list[Webhook]:
        config = (session.extra.get("config") if session else None) or {}
        metadata = config.get("metadata") if isinstance(config.get("metadata"), dict) else {}
        envelope: dict[str, Any] = {
            "id": "evt_" + ulid(),
            "timestamp": int(time.time() * 1000),
            "event": event,
            "session": name,
            "metadata": metadata,
            "me": self._me(session) if session else None,
            "payload": payload,
            "engine": self.variant,
            "environment": self._environment(),
        }
        if envelope["me"] is None:
            del envelope["me"]
        targets: list[tuple[str, dict[str, str], str | None]] = []
        for hook in config.get("webhooks") or []:
            events = hook.get("events") or []
            if hook.get("url") and ("*" in events or event in events):
                headers = {h["name"]: h["value"] for h in hook.get("customHeaders") or []}
                key = (hook.get("hmac") or {}).get("key")
                targets.append((hook["url"], headers, key))
        url = self.global_url(sim)
        if url:
            headers = {"X-Api-Key": sim.webhook_api_key} if sim.webhook_api_key else {}
            targets.append((url, headers, sim.webhook_hmac_secret))
        hooks = []
        for url, headers, key in targets:
            sent = {
                "User-Agent": f"WAHA/{VERSION}",
                "X-Webhook-Request-Id": ulid(),
                "X-Webhook-Timestamp": str(envelope["timestamp"]),
                **headers,
            }
            if key:
                sent["X-Webhook-Hmac-Algorithm"] = "sha512"
            hooks.append(Webhook(url, envelope, sent, key))
        return hooks


def _config(data: dict[str, Any]) -> dict[str, Any] | None:
    """The session `config` of a create/update body, its webhooks checked like WAHA's DTO."""
    config = data.get("config")
    if config is None:
        return None
    if not isinstance(config, dict):
        raise BadRequest("config must be an object")
    hooks = config.get("webhooks") or []
    if not isinstance(hooks, list):
        raise BadRequest("config.webhooks must be an array")
    for hook in hooks:
        if not isinstance(hook, dict) or not isinstance(hook.get("url"), str):
            raise BadRequest("each webhook needs a url")
        if not isinstance(hook.get("events"), list):
            raise BadRequest("each webhook needs its events (an array)")
        headers = hook.get("customHeaders") or []
        if not isinstance(headers, list) or not all(
            isinstance(h, dict)
            and isinstance(h.get("name"), str)
            and isinstance(h.get("value"), str)
            for h in headers
        ):
            raise BadRequest("customHeaders must be [{name, value}]")
        if hook.get("hmac") is not None and not isinstance(hook["hmac"], dict):
            raise BadRequest("hmac must be an object {key}")
    return config


def _ack_body(
    engine: str | None, me: str, chat: str, message_id: str, participant: str | None, ack: str
) -> dict[str, Any]:
    """WAMessageAckBody of our own message. A participant's receipt in a group (the docs'
    message.ack.group): from the group, to us, that participant. Otherwise from us (WEBJS, GOWS;
    NOWEB: the chat, Baileys' remoteJid) to the chat; GOWS ids of group messages end in our id."""
    number, ack_name = ACKS[ack]
    serialized = f"true_{chat}_{message_id}"
    if participant:
        serialized += f"_{c_us(participant)}"
        sender, receiver = chat, c_us(me) if me else chat
    else:
        if engine == "GOWS" and chat.endswith("@g.us") and me:
            serialized += f"_{c_us(me)}"
        sender, receiver = (chat if engine == "NOWEB" or not me else c_us(me)), chat
    return {
        "id": serialized,
        "from": sender,
        "to": receiver,
        "participant": c_us(participant) if participant else None,
        "fromMe": True,
        "ack": number,
        "ackName": ack_name,
        "_data": {},
    }
