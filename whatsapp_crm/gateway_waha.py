"""Adapter for WAHA, the WhatsApp HTTP API of devlikeapro/waha (`GATEWAY_BACKEND=waha`).

Built from WAHA's own OpenAPI document (WAHA 2026.7.1, `static/swagger/openapi.json` of
devlikeapro/waha-docs at c9de9539) and its source (devlikeapro/waha tag 2024.10.8, commit 55fc6a42:
sessions/auth/chatting controllers, the WEBJS and NOWEB engines; GOWS from the engine's
`groups.gows.ts` / `session.gows.core.ts` and whatsmeow's `types.GroupInfo`). Which payload came
from which version and engine is listed in tests/fixtures/waha/README.md.

| call           | WAHA                                                                   |
|----------------|------------------------------------------------------------------------|
| create_session | `POST /api/sessions` {"name", "start": true}; 422 "already exists" →   |
|                | `POST /api/sessions/{name}/restart`                                    |
| get_qr         | `GET /api/{name}/auth/qr?format=raw` → {"value"}; none (None) when the |
|                | session is not in SCAN_QR_CODE (422) or unknown (404)                  |
| get_status     | `GET /api/sessions/{name}` → {"status", "me": {"id"}}                  |
| delete_session | `DELETE /api/sessions/{name}` (stop, log out, delete; idempotent)      |
| list_groups    | `GET /api/{name}/groups`: an array (WEBJS, GOWS) or an object keyed by |
|                | JID (NOWEB), in each engine's field names                              |
| send_message   | `POST /api/sendText` {"session", "chatId", "text"}                     |
| list_participants | `GET /api/{name}/groups/{id}/participants/v2` → [{"id","pn","role"}]|
| check_connection | `GET /api/sessions` → an array (401: wrong key)                      |

WAHA answers 422 {"error": "Session status is not as expected…", "status", "expected"} when the
session is not WORKING (after waiting up to 5 s): that is the temporary `not_connected` error.
WAHA Core runs one session, named `default`: with `single_session=True` (WAHA_SINGLE_SESSION)
every CRM session id maps to it, so such a server serves one CRM session at a time.

With a `webhook` target (PUBLIC_BASE_URL set), the session is created with WAHA's session
`config`: one webhook to our receiver for WEBHOOK_EVENTS, our key as the custom header
`X-Api-Key`, the HMAC key, and `metadata` naming our session id (WAHA echoes it in every event,
which tells the receiver which CRM session `default` serves). A session WAHA already has gets the
config with `PUT /api/sessions/{name}` before its restart. WAHA versions whose event list lacks
the newer events (2024.10 knows `session.status` and `message.ack` only) refuse the list with a
400 naming `events`: the session is then created with LEGACY_WEBHOOK_EVENTS.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings

from whatsapp_crm.gateway import (
    GatewayError,
    GatewayGroup,
    GatewayParticipant,
    SessionStatus,
    WebhookTarget,
)
from whatsapp_crm.gateway_thirdparty import (
    ThirdPartyGateway,
    bare_message_id,
    error_with,
    gateway_text,
    phone_from_jid,
)

CORE_SESSION_NAME = "default"

# WAHA session status → ours (INTERFACE §7). PASSKEY_* (any) is "connecting" too.
WAHA_STATES = {
    "WORKING": "connected",
    "STARTING": "connecting",
    "SCAN_QR_CODE": "connecting",
    "STOPPED": "disconnected",
    "FAILED": "disconnected",
}
# WAHA GroupParticipant role → our member_rank ("left" ones are no members).
WAHA_ROLES = {"superadmin": "creator", "admin": "admin", "participant": "member"}
# The events the CRM's receiver uses (INTERFACE §7), as WAHA 2026.7.1 names them.
WEBHOOK_EVENTS = ["session.status", "message.ack", "message.ack.group", "group.v2.participants"]
# Those that WAHA 2024.10.8's event enum knows.
LEGACY_WEBHOOK_EVENTS = ["session.status", "message.ack"]
# The key of WAHA session `metadata` that names the CRM session (echoed in every event).
METADATA_SESSION_KEY = "whatsapp_crm.session_id"
NOT_WORKING_TEXT = "session status is not as expected"
ALREADY_EXISTS_TEXT = "already exists"
ONLY_DEFAULT_TEXT = "only 'default' session"


class WahaGateway(ThirdPartyGateway):
    kind = "WAHA"
    auth_header = "X-Api-Key"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        session: requests.Session | None = None,
        single_session: bool | None = None,
        webhook: WebhookTarget | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url, api_key=api_key, timeout=timeout, session=session, webhook=webhook
        )
        self.single_session = (
            settings.WAHA_SINGLE_SESSION if single_session is None else single_session
        )

    def session_name(self, session_id: str) -> str:
        """The WAHA session that serves our session id."""
        return CORE_SESSION_NAME if self.single_session else session_id

    # --- protocol calls ------------------------------------------------------------------------
    def check_connection(self) -> None:
        self.check_listing("/api/sessions")

    def create_session(self, session_id: str) -> SessionStatus:
        name = self.session_name(session_id)
        config = self.session_config(session_id, WEBHOOK_EVENTS)
        try:
            body = self._create_or_restart(name, config)
        except GatewayError as exc:
            if config is None or not _refuses_events(exc):
                raise
            # An older WAHA: register the events it knows.
            config = self.session_config(session_id, LEGACY_WEBHOOK_EVENTS)
            body = self._create_or_restart(name, config)
        # The session exists now: an unexpected state here is left to get_status to judge.
        state = body.get("status") if isinstance(body, dict) else None
        status = WAHA_STATES.get(state, "connecting") if isinstance(state, str) else "connecting"
        return SessionStatus(session_id=session_id, status=status, phone_number=None, error=None)

    def _create_or_restart(self, name: str, config: dict[str, Any] | None) -> Any:
        request: dict[str, Any] = {"name": name, "start": True}
        if config:
            request["config"] = config
        try:
            return self._call("POST", "/api/sessions", json=request)
        except GatewayError as exc:
            if exc.status_code != 422 or ALREADY_EXISTS_TEXT not in gateway_text(exc.body):
                raise
        # Reconnecting a session WAHA still has (WAHA Core always has `default`). WAHA keeps an
        # existing session's config: ours is set first (PUT stops, saves, restarts if running).
        if config:
            self._call("PUT", f"/api/sessions/{quote(name)}", json={"config": config})
        return self._call("POST", f"/api/sessions/{quote(name)}/restart")

    def session_config(self, session_id: str, events: list[str]) -> dict[str, Any] | None:
        """WAHA's session `config` that registers our webhook receiver (None: no target)."""
        if self.webhook is None:
            return None
        hook: dict[str, Any] = {
            "url": self.webhook.url,
            "events": list(events),
            "customHeaders": [{"name": "X-Api-Key", "value": self.webhook.api_key}],
        }
        if self.webhook.hmac_key:
            hook["hmac"] = {"key": self.webhook.hmac_key}
        return {"metadata": {METADATA_SESSION_KEY: session_id}, "webhooks": [hook]}

    def get_qr(self, session_id: str) -> str | None:
        name = self.session_name(session_id)
        try:
            body = self._call("GET", f"/api/{quote(name)}/auth/qr?format=raw")
        except GatewayError as exc:
            if exc.code in ("not_found", "not_connected"):  # unknown, or not in SCAN_QR_CODE
                return None
            raise
        value = body.get("value") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise GatewayError(
                "WAHA answered without a QR code value.", code="bad_response", body=body
            )
        return value

    def get_status(self, session_id: str) -> SessionStatus:
        body = self._call("GET", f"/api/sessions/{quote(self.session_name(session_id))}")
        if not isinstance(body, dict):
            raise self.bad_response("session information", body)
        status, error = waha_state(body.get("status"))
        me = body.get("me")
        phone = (
            phone_from_jid(me.get("id")) if status == "connected" and isinstance(me, dict) else None
        )
        return SessionStatus(session_id=session_id, status=status, phone_number=phone, error=error)

    def delete_session(self, session_id: str) -> None:
        self._call("DELETE", f"/api/sessions/{quote(self.session_name(session_id))}")

    def list_groups(self, session_id: str) -> list[GatewayGroup]:
        body = self._call("GET", f"/api/{quote(self.session_name(session_id))}/groups")
        if isinstance(body, list):
            entries = [(None, item) for item in body]
        elif isinstance(body, dict):  # NOWEB (and GOWS of some versions): keyed by JID
            entries = list(body.items())
        else:
            raise self.bad_response("group list", body)
        groups = []
        for key, item in entries:
            group = waha_group(item, key)
            if group is None:
                raise GatewayError(
                    "WAHA's group list contains an entry without an id.",
                    code="bad_response",
                    body={"entry": item},
                )
            groups.append(group)
        return groups

    def list_participants(self, session_id: str, group_jid: str) -> list[GatewayParticipant]:
        """`GET /api/{session}/groups/{id}/participants/v2` → [{"id", "pn"?, "role"}] (WAHA's
        GroupParticipant: id "…@c.us" or "…@lid", pn the number of a privacy id, role
        participant | admin | superadmin | left; those who left are not members)."""
        name = quote(self.session_name(session_id))
        body = self._call("GET", f"/api/{name}/groups/{quote(group_jid)}/participants/v2")
        if not isinstance(body, list):
            raise self.bad_response("participant list", body)
        participants = []
        for entry in body:
            pid = entry.get("id") if isinstance(entry, dict) else None
            if isinstance(pid, dict):  # some engines serialize ids as {"_serialized"}
                pid = pid.get("_serialized")
            if not isinstance(pid, str) or not pid.strip():
                raise GatewayError(
                    "WAHA's participant list contains an entry without an id.",
                    code="bad_response",
                    body={"entry": entry},
                )
            role = entry.get("role")
            if role == "left":
                continue
            participants.append(
                GatewayParticipant(
                    id=pid.strip(),
                    rank=WAHA_ROLES.get(role, "member"),
                    phone=phone_from_jid(entry.get("pn")),
                )
            )
        return participants

    def send_message(
        self, *, session_id: str, to: str, message: str, client_message_id: str
    ) -> str:
        # WAHA's optional "id" must be a WhatsApp message id, not our uuid: it is not sent.
        body = self._call(
            "POST",
            "/api/sendText",
            json={"session": self.session_name(session_id), "chatId": to, "text": message},
            sending=True,
        )
        message_id = bare_message_id(body)
        if not message_id:
            raise GatewayError(
                "WAHA accepted the message but returned no message id.",
                code="bad_response",
                ambiguous=True,
                body=body,
            )
        return message_id

    # --- WAHA's errors -------------------------------------------------------------------------
    def translate(self, exc: GatewayError) -> GatewayError:
        text = gateway_text(exc.body)
        if exc.status_code == 422 and NOT_WORKING_TEXT in text.lower():
            state = exc.body.get("status") if isinstance(exc.body, dict) else None
            return error_with(
                exc,
                message=f"WAHA session is not working yet (status {state or 'unknown'}).",
                code="not_connected",
                permanent=False,
                ambiguous=False,
            )
        if exc.status_code == 422 and ONLY_DEFAULT_TEXT in text.lower():
            return error_with(
                exc,
                message=(
                    "WAHA Core serves only the session named 'default': set "
                    "WAHA_SINGLE_SESSION=true (or use WAHA Plus)."
                ),
                code="misconfigured",
                permanent=True,
            )
        return super().translate(exc)


def _refuses_events(exc: GatewayError) -> bool:
    """WAHA's validation error (400) for an event name it does not know."""
    return exc.status_code == 400 and "events" in gateway_text(exc.body).lower()


def waha_state(state: Any) -> tuple[str, str | None]:
    """(our status, error) for a WAHA session status."""
    if isinstance(state, str) and state.startswith("PASSKEY_"):
        return "connecting", f"WhatsApp asks for a passkey to finish pairing (WAHA {state})."
    status = WAHA_STATES.get(state) if isinstance(state, str) else None
    if status is None:
        raise GatewayError(
            f"WAHA reported an unknown session status: {state!r}.",
            code="bad_response",
            body={"status": state},
        )
    error = f"WAHA reports the session as {state}." if status == "disconnected" else None
    return status, error


def waha_group(item: Any, key: Any = None) -> GatewayGroup | None:
    """One group of `GET /api/{session}/groups`, in whichever engine's shape (None: no id).

    NOWEB: Baileys GroupMetadata (`id`, `subject`, `size`, `isCommunity`, `isCommunityAnnounce`,
    `linkedParent`). WEBJS: a whatsapp-web.js GroupChat (`id` {"_serialized"}, `name`,
    `groupMetadata` {`subject`, `size`, `isParentGroup`, `defaultSubgroup`, `parentGroup`}).
    GOWS: whatsmeow GroupInfo (`JID`, `Name`, `IsParent`, `IsDefaultSubGroup`, `LinkedParentJID`,
    `ParticipantCount`, `Participants`).
    """
    if not isinstance(item, dict):
        return None
    meta = item.get("groupMetadata")
    meta = meta if isinstance(meta, dict) else {}
    jid = _jid(item.get("id")) or _jid(item.get("JID")) or _jid(meta.get("id")) or _jid(key)
    if not jid:
        return None
    subject = _first_text(
        item.get("subject"), meta.get("subject"), item.get("Name"), item.get("name")
    )
    return GatewayGroup(
        jid=jid,
        subject=subject[:255],
        size=_size(item, meta),
        is_community=bool(
            item.get("isCommunity") or item.get("IsParent") or meta.get("isParentGroup")
        ),
        is_community_announce=bool(
            item.get("isCommunityAnnounce")
            or item.get("IsDefaultSubGroup")
            or meta.get("defaultSubgroup")
        ),
        linked_parent=_jid(item.get("linkedParent"))
        or _jid(item.get("LinkedParentJID"))
        or _jid(meta.get("parentGroup")),
    )


def _jid(value: Any) -> str | None:
    if isinstance(value, dict):  # whatsapp-web.js wid {"server", "user", "_serialized"}
        value = value.get("_serialized")
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _first_text(*values: Any) -> str:
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _size(item: dict[str, Any], meta: dict[str, Any]) -> int:
    for value in (item.get("size"), item.get("ParticipantCount"), meta.get("size")):
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
    for value in (item.get("participants"), item.get("Participants"), meta.get("participants")):
        if isinstance(value, list):
            return len(value)
    return 0
