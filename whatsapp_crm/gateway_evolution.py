"""Adapter for Evolution API v2 (EvolutionAPI/evolution-api, `GATEWAY_BACKEND=evolution`).

Built from Evolution's own OpenAPI document (`openapi/openapi-v2.json`, "version 2.1.1", of
EvolutionAPI/docs-evolution at a3dfb84b) and its source (EvolutionAPI/evolution-api 2.3.6, commit
3454bec7: instance/group/sendMessage routers and controllers, the instance guards, the error
handler of main.ts, the Baileys channel service). The Baileys integration (`WHATSAPP-BAILEYS`) is
the one checked. Which payload came from where: tests/fixtures/evolution/README.md.

| call           | Evolution API                                                           |
|----------------|-------------------------------------------------------------------------|
| create_session | `POST /instance/create` {"instanceName", "integration", "qrcode": true};|
|                | 403 "already in use" → `GET /instance/connect/{name}` (starts it again) |
| get_qr         | `GET /instance/connect/{name}` → {"code"} (None: connected, or no code  |
|                | yet: {"count": 0})                                                      |
| get_status     | `GET /instance/connectionState/{name}` → {"instance": {"state"}}; when  |
|                | open, `GET /instance/fetchInstances?instanceName=` for `ownerJid`       |
| delete_session | `DELETE /instance/logout/{name}`; its 400 "is not connected" = done     |
| list_groups    | `GET /group/fetchAllGroups/{name}?getParticipants=false` → an array     |
| send_message   | `POST /message/sendText/{name}` {"number", "text"} → {"key": {"id"}}    |
| list_participants | `GET /group/participants/{name}?groupJid=` → {"participants": [...]} |
| check_connection | `GET /instance/fetchInstances` → an array (401: wrong key)            |

With a `webhook` target (PUBLIC_BASE_URL set), creating (or reconnecting) an instance registers
our receiver with `POST /webhook/set/{name}` {"webhook": {"enabled", "url", "headers",
"byEvents": false, "base64": false, "events"}} (the 2.3.6 `webhookSchema`; the flat shape of the
2.1.1 OpenAPI document is refused by 2.3.6), our key in `headers` as `X-Api-Key`. Evolution signs
nothing: the key is the receiver's only check.

Errors come as {"status", "error": "<reason phrase>", "response": {"message": str | [...]}}.
Baileys' "Connection Closed" (answered 400 or 500 depending on where it is thrown, and 404 by the
group calls, which wrap every error in `NotFoundException`, e.g. 2.3.6 `findParticipants`) means
the WhatsApp connection is down: the temporary `not_connected` error.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from whatsapp_crm.gateway import (
    GatewayError,
    GatewayGroup,
    GatewayParticipant,
    SessionStatus,
    parse_group_entries,
)
from whatsapp_crm.gateway_thirdparty import (
    ThirdPartyGateway,
    bare_message_id,
    error_with,
    gateway_text,
    phone_from_jid,
)

INTEGRATION = "WHATSAPP-BAILEYS"
# The events the CRM's receiver uses (INTERFACE §7), as /webhook/set names them.
WEBHOOK_EVENTS = ["CONNECTION_UPDATE", "MESSAGES_UPDATE", "GROUP_PARTICIPANTS_UPDATE"]
EVOLUTION_STATES = {
    "open": "connected",
    "connecting": "connecting",
    "close": "disconnected",
    "refused": "disconnected",  # QR code limit reached: the instance gave up
}
CONNECTION_CLOSED_TEXT = "connection closed"
IN_USE_TEXT = "already in use"
NOT_CONNECTED_TEXT = "is not connected"


class EvolutionGateway(ThirdPartyGateway):
    kind = "Evolution API"
    auth_header = "apikey"

    # --- protocol calls ------------------------------------------------------------------------
    def check_connection(self) -> None:
        self.check_listing("/instance/fetchInstances")

    def create_session(self, session_id: str) -> SessionStatus:
        created = False
        try:
            body = self._call(
                "POST",
                "/instance/create",
                json={"instanceName": session_id, "integration": INTEGRATION, "qrcode": True},
            )
            created = True
            instance = body.get("instance") if isinstance(body, dict) else None
            state = instance.get("status") if isinstance(instance, dict) else None
        except GatewayError as exc:
            if exc.status_code != 403 or IN_USE_TEXT not in gateway_text(exc.body).lower():
                raise
            # Reconnecting an instance Evolution still has: "connect" starts it when closed.
            body = self._call("GET", f"/instance/connect/{quote(session_id)}")
            state = _instance_state(body) or "connecting"
        try:
            self.register_webhook(session_id)
        except GatewayError as exc:
            if not created:
                raise
            raise error_with(exc, message=f"{exc.message} {self._forget(session_id)}") from exc
        status = (
            EVOLUTION_STATES.get(state, "connecting") if isinstance(state, str) else "connecting"
        )
        return SessionStatus(session_id=session_id, status=status, phone_number=None, error=None)

    def _forget(self, session_id: str) -> str:
        """Delete an instance just created whose webhook could not be set (`DELETE
        /instance/delete/{name}`, 2.3.6 `deleteInstance`): nothing is left behind. Says what
        happened, for the error shown to staff."""
        try:
            self._call("DELETE", f"/instance/delete/{quote(session_id)}")
        except GatewayError as exc:
            return (
                f"The new instance {session_id} could not be removed ({exc.message}); delete it "
                "in Evolution API's manager."
            )
        return f"The new instance {session_id} was removed again: nothing was left behind."

    def register_webhook(self, session_id: str) -> None:
        """Point the instance's webhook at our receiver (nothing without a target)."""
        if self.webhook is None:
            return
        self._call(
            "POST",
            f"/webhook/set/{quote(session_id)}",
            json={
                "webhook": {
                    "enabled": True,
                    "url": self.webhook.url,
                    "headers": {"X-Api-Key": self.webhook.api_key},
                    "byEvents": False,
                    "base64": False,
                    "events": list(WEBHOOK_EVENTS),
                }
            },
        )

    def get_qr(self, session_id: str) -> str | None:
        try:
            body = self._call("GET", f"/instance/connect/{quote(session_id)}")
        except GatewayError as exc:
            if exc.code == "not_found":
                return None
            raise
        if not isinstance(body, dict):
            raise self.bad_response("connect answer", body)
        if body.get("error") is True:
            # The controller catches its own failure and answers it with 200.
            raise GatewayError(
                f"Evolution API could not start the connection: {gateway_text(body) or 'no reason given'}",
                code="server_error",
                body=body,
            )
        code = body.get("code")
        return code if isinstance(code, str) and code else None

    def get_status(self, session_id: str) -> SessionStatus:
        body = self._call("GET", f"/instance/connectionState/{quote(session_id)}")
        if not isinstance(body, dict) or not isinstance(body.get("instance"), dict):
            raise self.bad_response("connection state", body)
        state = body["instance"].get("state")
        if state is None:
            # Known in Evolution's database but not loaded (e.g. after a restart of Evolution).
            return SessionStatus(
                session_id=session_id,
                status="disconnected",
                phone_number=None,
                error="Evolution API has the instance but no connection for it.",
            )
        status = EVOLUTION_STATES.get(state) if isinstance(state, str) else None
        if status is None:
            raise GatewayError(
                f"Evolution API reported an unknown connection state: {state!r}.",
                code="bad_response",
                body=body,
            )
        phone = self._owner_phone(session_id) if status == "connected" else None
        error = (
            f"Evolution API reports the instance as {state}." if status == "disconnected" else None
        )
        return SessionStatus(session_id=session_id, status=status, phone_number=phone, error=error)

    def delete_session(self, session_id: str) -> None:
        try:
            self._call("DELETE", f"/instance/logout/{quote(session_id)}")
        except GatewayError as exc:
            if exc.status_code == 400 and NOT_CONNECTED_TEXT in gateway_text(exc.body).lower():
                return  # already logged out (state "close"): logging out is done
            raise

    def list_groups(self, session_id: str) -> list[GatewayGroup]:
        body = self._call("GET", f"/group/fetchAllGroups/{quote(session_id)}?getParticipants=false")
        if not isinstance(body, list):
            raise self.bad_response("group list", body)
        return parse_group_entries(body, gateway_name="Evolution API")

    def list_participants(self, session_id: str, group_jid: str) -> list[GatewayParticipant]:
        """`GET /group/participants/{name}?groupJid=` → {"participants": [Baileys participants:
        "id" (…@s.whatsapp.net or …@lid), "phoneNumber"? (the number of a privacy id),
        "admin": "superadmin" | "admin" | null]} (2.3.6 `findParticipants`)."""
        body = self._call(
            "GET", f"/group/participants/{quote(session_id)}?groupJid={quote(group_jid)}"
        )
        entries = body.get("participants") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            raise self.bad_response("participant list", body)
        participants = []
        for entry in entries:
            pid = entry.get("id") if isinstance(entry, dict) else None
            if not isinstance(pid, str) or not pid.strip():
                raise GatewayError(
                    "Evolution API's participant list contains an entry without an id.",
                    code="bad_response",
                    body={"entry": entry},
                )
            admin = entry.get("admin")
            if entry.get("isSuperAdmin") is True:
                admin = "superadmin"
            elif admin is None and entry.get("isAdmin") is True:
                admin = "admin"
            participants.append(
                GatewayParticipant(
                    id=pid.strip(),
                    rank={"superadmin": "creator", "admin": "admin"}.get(admin, "member"),
                    phone=phone_from_jid(entry.get("phoneNumber")),
                )
            )
        return participants

    def send_message(
        self, *, session_id: str, to: str, message: str, client_message_id: str
    ) -> str:
        body = self._call(
            "POST",
            f"/message/sendText/{quote(session_id)}",
            json={"number": to, "text": message},
            sending=True,
        )
        message_id = bare_message_id(body)
        if not message_id:
            raise GatewayError(
                "Evolution API accepted the message but returned no message id.",
                code="bad_response",
                ambiguous=True,
                body=body,
            )
        return message_id

    # --- Evolution's answers -------------------------------------------------------------------
    def _owner_phone(self, session_id: str) -> str | None:
        """The connected number: `ownerJid` of the instance (v2), `owner` in the documented
        v1-style shape [{"instance": {"instanceName", "owner"}}]."""
        body = self._call("GET", f"/instance/fetchInstances?instanceName={quote(session_id)}")
        entries = body if isinstance(body, list) else [body]
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            info = entry.get("instance") if isinstance(entry.get("instance"), dict) else entry
            name = info.get("name") or info.get("instanceName")
            if name not in (None, session_id):
                continue
            for key in ("ownerJid", "owner", "wuid"):
                phone = phone_from_jid(info.get(key))
                if phone:
                    return phone
        return None

    def translate(self, exc: GatewayError) -> GatewayError:
        text = gateway_text(exc.body)
        if exc.status_code in (400, 404, 500) and CONNECTION_CLOSED_TEXT in text.lower():
            return error_with(
                exc,
                message=f"Evolution API: the WhatsApp connection is closed ({text}).",
                code="not_connected",
                permanent=False,
                ambiguous=False,
            )
        return super().translate(exc)


def _instance_state(body: Any) -> str | None:
    """The state in a connect answer that reports the connection instead of a QR code."""
    if isinstance(body, dict) and isinstance(body.get("instance"), dict):
        state = body["instance"].get("state") or body["instance"].get("status")
        return state if isinstance(state, str) else None
    return None
