"""The WhatsApp gateway client: the only code that calls the VPS (protocol: docs/gateway-protocol.md).

Every failure becomes one `GatewayError` with a short human message, the HTTP status (if any),
whether it is `permanent` (retrying cannot help) and whether it is `ambiguous` (the gateway may
have acted although we got no clear answer: a send must not be repeated blindly).

Every call ends within `timeout` seconds of wall time (GATEWAY_TIMEOUT_SECONDS), connect and
every read included. `requests` timeouts bound each socket read, so a gateway trickling a byte
every few seconds could keep a call open for ever; a watchdog timer shuts the call's socket down
at the deadline instead (`whatsapp_crm.call_deadline`), and such a call is a `timeout`
(ambiguous, like a read timeout). The send queue relies on this bound: a call's lease is always
longer (docs/reliability.md).

`get_gateway()` picks the adapter named by settings.GATEWAY_BACKEND (the default gateway); each
gateway kind is a class implementing `Gateway`, registered in `ADAPTERS`. Gateway rows
(`whatsapp_gateways`) are turned into adapters by `gateways_app.clients`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import requests
from django.conf import settings

from whatsapp_crm.call_deadline import DeadlineAdapter, call_deadline
from whatsapp_crm.gateway_errors import (  # noqa: F401 (re-exported: the one place to import from)
    ERROR_BODY_MAX_CHARS,
    GatewayError,
    _broken_reason,
    _error_text,
    _is_refused,
    _short,
    _short_body,
    wrong_kind,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionStatus:
    session_id: str
    status: str  # connected | connecting | disconnected
    phone_number: str | None
    error: str | None


@dataclass(frozen=True)
class GatewayGroup:
    jid: str
    subject: str
    size: int
    is_community: bool
    is_community_announce: bool
    linked_parent: str | None


@dataclass(frozen=True)
class GatewayParticipant:
    """A member of a group as the gateway lists it (`list_participants`)."""

    id: str  # as the gateway names it: "<digits>", "<digits>@c.us|@s.whatsapp.net" or "<id>@lid"
    rank: str  # creator | admin | member
    phone: str | None = None  # "<digits>" when the gateway resolves a privacy id to its number


PARTICIPANT_RANKS = ("creator", "admin", "member")


@dataclass(frozen=True)
class WebhookTarget:
    """Where a gateway must send its webhooks for one CRM session (PUBLIC_BASE_URL set): our
    receiver's URL, the key it must send as `X-Api-Key`, and WAHA's HMAC key (None: unsigned)."""

    url: str
    api_key: str
    hmac_key: str | None = None


class Gateway(Protocol):
    def check_connection(self) -> None: ...
    def create_session(self, session_id: str) -> SessionStatus: ...
    def get_qr(self, session_id: str) -> str | None: ...
    def get_status(self, session_id: str) -> SessionStatus: ...
    def delete_session(self, session_id: str) -> None: ...
    def list_groups(self, session_id: str) -> list[GatewayGroup]: ...
    def list_participants(self, session_id: str, group_jid: str) -> list[GatewayParticipant]: ...
    def send_message(
        self, *, session_id: str, to: str, message: str, client_message_id: str
    ) -> str: ...


SESSION_STATUSES = {"connected", "connecting", "disconnected"}


def parse_group_entries(entries: list[Any], *, gateway_name: str) -> list[GatewayGroup]:
    """Groups in our protocol's entry shape (§4: id, subject, size, isCommunity,
    isCommunityAnnounce, linkedParent), which Evolution API's group list shares."""
    groups = []
    for item in entries:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise GatewayError(
                f"{gateway_name}'s group list contains an entry without an id.",
                code="bad_response",
                body={"entry": item},
            )
        size = item.get("size")
        parent = item.get("linkedParent")
        groups.append(
            GatewayGroup(
                jid=item["id"].strip(),
                subject=str(item.get("subject") or "")[:255],
                size=size if isinstance(size, int) and size >= 0 else 0,
                is_community=bool(item.get("isCommunity")),
                is_community_announce=bool(item.get("isCommunityAnnounce")),
                linked_parent=parent if isinstance(parent, str) and parent else None,
            )
        )
    return groups


class VpsGateway:
    """Our own gateway server (the "VPS"), protocol of INTERFACE.md §4."""

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        session: requests.Session | None = None,
        webhook: WebhookTarget | None = None,
    ) -> None:
        self.base_url = (base_url or settings.GATEWAY_URL).rstrip("/")
        # Our own gateway is told where to post by its own configuration (docs/gateway-protocol.md);
        # WAHA and Evolution are told when a session is created.
        self.webhook = webhook
        self.api_key = api_key if api_key is not None else settings.GATEWAY_API_KEY
        # The whole call, connect included, ends within this many seconds (see the module doc).
        self.timeout = timeout if timeout is not None else settings.GATEWAY_TIMEOUT_SECONDS
        if session is None:
            session = requests.Session()
            session.mount("http://", DeadlineAdapter())
            session.mount("https://", DeadlineAdapter())
        self.http = session

    # --- protocol calls ------------------------------------------------------------------------
    def check_connection(self) -> None:
        """Raise GatewayError unless the server answers like our gateway with this key: code
        `unreachable`/`timeout`, `unauthorized` (wrong key) or `wrong_kind`.

        Asks for the status of a session that does not exist: our protocol answers 404
        {"error"} (after checking the key); WAHA and Evolution answer unknown routes otherwise.
        """
        try:
            body = self._request("GET", f"/sessions/{CHECK_SESSION_ID}/status")
        except GatewayError as exc:
            if exc.code == "not_found" and _is_own_error_body(exc.body):
                return
            if exc.code in ("not_found", "rejected", "server_error", "bad_response"):
                raise wrong_kind("our gateway protocol (vps)", self.base_url, exc) from exc
            raise
        if body.get("status") not in SESSION_STATUSES:
            raise wrong_kind(
                "our gateway protocol (vps)",
                self.base_url,
                GatewayError("no session status in the answer", body=body),
            )

    def create_session(self, session_id: str) -> SessionStatus:
        body = self._request("POST", "/sessions", json={"sessionId": session_id})
        return SessionStatus(
            session_id=str(body.get("sessionId") or session_id),
            status=self._status_value(body.get("status") or "connecting"),
            phone_number=None,
            error=None,
        )

    def get_qr(self, session_id: str) -> str | None:
        try:
            body = self._request("GET", f"/sessions/{quote(session_id)}/qr")
        except GatewayError as exc:
            if exc.status_code == 404:
                return None
            raise
        qr = body.get("qr")
        if not isinstance(qr, str) or not qr:
            raise GatewayError(
                "The gateway answered without a QR code.", code="bad_response", body=body
            )
        return qr

    def get_status(self, session_id: str) -> SessionStatus:
        body = self._request("GET", f"/sessions/{quote(session_id)}/status")
        phone = body.get("phoneNumber")
        error = body.get("error")
        return SessionStatus(
            session_id=str(body.get("sessionId") or session_id),
            status=self._status_value(body.get("status")),
            phone_number=str(phone) if phone not in (None, "") else None,
            error=str(error) if error not in (None, "") else None,
        )

    def delete_session(self, session_id: str) -> None:
        self._request("DELETE", f"/sessions/{quote(session_id)}", expect_json=False)

    def list_groups(self, session_id: str) -> list[GatewayGroup]:
        body = self._request("GET", f"/sessions/{quote(session_id)}/groups")
        raw_groups = body.get("groups")
        if not isinstance(raw_groups, list):
            raise GatewayError(
                "The gateway's group list is not in the expected format (no 'groups' list).",
                code="bad_response",
                body=body,
            )
        return parse_group_entries(raw_groups, gateway_name="The gateway")

    def list_participants(self, session_id: str, group_jid: str) -> list[GatewayParticipant]:
        """`GET /sessions/{id}/groups/{jid}/participants` → {"participants": [{"id", "rank"}]}
        (INTERFACE §9; member syncs with MEMBER_SOURCE=gateway)."""
        body = self._request(
            "GET", f"/sessions/{quote(session_id)}/groups/{quote(group_jid)}/participants"
        )
        entries = body.get("participants")
        if not isinstance(entries, list):
            raise GatewayError(
                "The gateway's participant list is not in the expected format "
                "(no 'participants' list).",
                code="bad_response",
                body=body,
            )
        participants = []
        for entry in entries:
            pid = entry.get("id") if isinstance(entry, dict) else None
            if not isinstance(pid, str) or not pid.strip():
                raise GatewayError(
                    "The gateway's participant list contains an entry without an id.",
                    code="bad_response",
                    body={"entry": entry},
                )
            rank = entry.get("rank")
            participants.append(
                GatewayParticipant(
                    id=pid.strip(), rank=rank if rank in PARTICIPANT_RANKS else "member"
                )
            )
        return participants

    def send_message(
        self, *, session_id: str, to: str, message: str, client_message_id: str
    ) -> str:
        body = self._request(
            "POST",
            "/send",
            json={
                "sessionId": session_id,
                "to": to,
                "message": message,
                "clientMessageId": client_message_id,
            },
            sending=True,
        )
        message_id = body.get("messageId")
        if not isinstance(message_id, str) or not message_id:
            # The gateway said 2xx, so it probably sent, but we cannot prove which message it was.
            raise GatewayError(
                "The gateway accepted the message but returned no message id.",
                code="bad_response",
                ambiguous=True,
                body=body,
            )
        return message_id

    # --- plumbing ------------------------------------------------------------------------------
    @staticmethod
    def _status_value(value: Any) -> str:
        if value not in SESSION_STATUSES:
            raise GatewayError(
                f"The gateway reported an unknown session status: {value!r}.",
                code="bad_response",
                body={"status": value},
            )
        return value

    def _transport_error(
        self, exc: requests.exceptions.RequestException, *, sending: bool
    ) -> GatewayError:
        """The one GatewayError for a call that got no HTTP answer."""
        if isinstance(exc, requests.exceptions.ConnectTimeout):
            return GatewayError(
                f"Gateway unreachable: no connection to {self.base_url} within the timeout.",
                code="unreachable",
            )
        if isinstance(exc, requests.exceptions.ReadTimeout):
            # The request reached the gateway; it may have acted on it.
            return GatewayError(
                f"The gateway did not answer within {self.timeout:g} s.",
                code="timeout",
                ambiguous=True,
            )
        if isinstance(exc, requests.exceptions.ConnectionError):
            if _is_refused(exc):
                return GatewayError(
                    f"Gateway unreachable: connection to {self.base_url} refused.",
                    code="unreachable",
                )
            reason, mid_request = _broken_reason(exc)
            return GatewayError(
                f"Gateway unreachable: {reason}."
                if not mid_request
                else f"The connection to the gateway broke before it answered ({reason}).",
                code="unreachable",
                # A connection that broke after the request was sent leaves the outcome unknown.
                ambiguous=mid_request,
            )
        if isinstance(
            exc,
            (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError),
        ):
            # The answer broke off while it was being read: the gateway had the request.
            return GatewayError(
                f"The gateway's answer broke off: {_short(exc)}",
                code="server_error",
                ambiguous=sending,
            )
        return GatewayError(f"Gateway request failed: {_short(exc)}", code="unreachable")

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        expect_json: bool = True,
        sending: bool = False,
    ) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        with call_deadline(self.timeout) as deadline:
            try:
                response = self.http.request(
                    method,
                    url,
                    json=json,
                    headers={"X-API-Key": self.api_key, "Accept": "application/json"},
                    timeout=(min(5.0, self.timeout), self.timeout),
                )
            except requests.exceptions.RequestException as exc:
                error = self._transport_error(exc, sending=sending)
                if deadline.expired and not error.unreachable:
                    # The watchdog cut a call that was still trickling in: the request reached
                    # the gateway, which may have acted on it.
                    error = GatewayError(
                        f"The gateway did not answer within {self.timeout:g} s.",
                        code="timeout",
                        ambiguous=True,
                    )
                raise error from exc
        status = response.status_code
        body: Any
        try:
            body = response.json()
        except ValueError:
            body = response.text[:500]

        if 200 <= status < 300:
            if not expect_json:
                return body if isinstance(body, dict) else {}
            if not isinstance(body, dict):
                raise GatewayError(
                    f"The gateway answered {status} with a body that is not JSON.",
                    status_code=status,
                    code="bad_response",
                    ambiguous=sending,
                    body=body,
                )
            return body
        if status == 503:
            raise GatewayError(
                _error_text(body, "Session not connected at the gateway."),
                status_code=status,
                code="not_connected",
                body=body,
            )
        if status >= 500:
            raise GatewayError(
                f"Gateway error {status}: {_error_text(body, 'internal error')}",
                status_code=status,
                code="server_error",
                ambiguous=sending,
                body=body,
            )
        if status in (401, 403):
            # A configuration mistake, not a verdict on the message: queued sends wait (with
            # back-off) for the key to be fixed instead of all failing at once.
            raise GatewayError(
                f"The gateway rejected our API key ({status}). Check GATEWAY_API_KEY.",
                status_code=status,
                permanent=False,
                code="unauthorized",
                body=body,
            )
        if status == 404:
            raise GatewayError(
                _error_text(body, "Not found at the gateway."),
                status_code=status,
                permanent=True,
                code="not_found",
                body=body,
            )
        if status == 429:
            raise GatewayError(
                "The gateway is rate-limiting us (429).",
                status_code=status,
                code="rate_limited",
                body=body,
            )
        raise GatewayError(
            f"Gateway refused the request ({status}): {_error_text(body, 'no reason given')}",
            status_code=status,
            permanent=True,
            code="rejected",
            body=body,
        )


# The session asked for by `check_connection`: no CRM session is called so.
CHECK_SESSION_ID = "crm-connection-check"


def _is_own_error_body(body: Any) -> bool:
    """Our protocol's error body {"error": "..."}: not NestJS (WAHA) {"statusCode", "message"}
    nor Evolution {"status", "response"}."""
    return (
        isinstance(body, dict)
        and isinstance(body.get("error"), str)
        and not {"statusCode", "message", "status", "response"} & set(body)
    )


# Gateway kinds (INTERFACE §7). The WAHA and Evolution adapters build on this module, so they are
# named here and imported on first use.
ADAPTERS: dict[str, type | str] = {
    "vps": VpsGateway,
    "waha": "whatsapp_crm.gateway_waha.WahaGateway",
    "evolution": "whatsapp_crm.gateway_evolution.EvolutionGateway",
}


def get_gateway(**options: Any) -> Gateway:
    """The default gateway of the environment (GATEWAY_BACKEND, GATEWAY_URL, GATEWAY_API_KEY).

    Code that acts for a session calls `gateways_app.clients.gateway_for(session)` instead: a
    session may belong to a gateway row of its organization. `options` go to the adapter."""
    from django.utils.module_loading import import_string

    try:
        adapter = ADAPTERS[settings.GATEWAY_BACKEND]
    except KeyError as exc:
        raise GatewayError(
            f"Unknown GATEWAY_BACKEND {settings.GATEWAY_BACKEND!r}; known: {', '.join(ADAPTERS)}.",
            permanent=True,
            code="misconfigured",
        ) from exc
    if isinstance(adapter, str):
        adapter = import_string(adapter)
    return adapter(**options)
