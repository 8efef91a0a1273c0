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

`get_gateway()` picks the adapter named by settings.GATEWAY_BACKEND; a second gateway (e.g. WAHA)
is another class implementing `Gateway`, registered in `ADAPTERS`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

import requests
from django.conf import settings

from whatsapp_crm.call_deadline import DeadlineAdapter, call_deadline
from whatsapp_crm.text import short_text

logger = logging.getLogger(__name__)


class GatewayError(Exception):
    """A failed gateway call.

    code: unreachable | timeout | not_connected | not_found | unauthorized | rejected |
          server_error | bad_response
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        permanent: bool = False,
        ambiguous: bool = False,
        code: str = "error",
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.permanent = permanent
        self.ambiguous = ambiguous
        self.code = code
        self.body = body

    @property
    def not_connected(self) -> bool:
        return self.code == "not_connected"

    @property
    def unreachable(self) -> bool:
        """The request certainly never reached the gateway (connection refused, connect
        timeout, no route, unknown host): the gateway is down or cut off, which says nothing
        about the request itself."""
        return self.code == "unreachable" and not self.ambiguous

    def as_details(self) -> dict[str, Any]:
        return {
            "status_code": self.status_code,
            "permanent": self.permanent,
            "ambiguous": self.ambiguous,
            "body": _short_body(self.body),
        }

    def __str__(self) -> str:
        return self.message


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


class Gateway(Protocol):
    def create_session(self, session_id: str) -> SessionStatus: ...
    def get_qr(self, session_id: str) -> str | None: ...
    def get_status(self, session_id: str) -> SessionStatus: ...
    def delete_session(self, session_id: str) -> None: ...
    def list_groups(self, session_id: str) -> list[GatewayGroup]: ...
    def send_message(
        self, *, session_id: str, to: str, message: str, client_message_id: str
    ) -> str: ...


SESSION_STATUSES = {"connected", "connecting", "disconnected"}


# What API clients see of a gateway's error body: enough to recognise it, never a whole page.
ERROR_BODY_MAX_CHARS = 300


def _short_body(body: Any) -> Any:
    if body is None or isinstance(body, (bool, int, float)):
        return body
    if isinstance(body, str):
        return short_text(body, ERROR_BODY_MAX_CHARS)
    text = json.dumps(body, default=str)
    return body if len(text) <= ERROR_BODY_MAX_CHARS else short_text(text, ERROR_BODY_MAX_CHARS)


def _error_text(body: Any, fallback: str) -> str:
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()[:500]
    if isinstance(body, str) and body.strip() and not body.lstrip().startswith("<"):
        return body.strip()[:200]
    return fallback


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
    ) -> None:
        self.base_url = (base_url or settings.GATEWAY_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else settings.GATEWAY_API_KEY
        # The whole call, connect included, ends within this many seconds (see the module doc).
        self.timeout = timeout if timeout is not None else settings.GATEWAY_TIMEOUT_SECONDS
        if session is None:
            session = requests.Session()
            session.mount("http://", DeadlineAdapter())
            session.mount("https://", DeadlineAdapter())
        self.http = session

    # --- protocol calls ------------------------------------------------------------------------
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


def _is_refused(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return True
        text = str(current)
        if "Connection refused" in text or "Errno 111" in text:
            return True
        current = (
            current.__cause__
            or current.__context__
            or (
                current.args[0]
                if current.args and isinstance(current.args[0], BaseException)
                else None
            )
        )
    return False


def _broken_reason(exc: BaseException) -> tuple[str, bool]:
    """A short reason, and whether the request may have reached the gateway."""
    text = str(exc)
    if "RemoteDisconnected" in text or "closed connection" in text or "aborted" in text:
        return "the gateway closed the connection", True
    if "reset" in text.lower():
        return "connection reset", True
    if "Name or service not known" in text or "NameResolution" in text or "getaddrinfo" in text:
        return "the gateway host name cannot be resolved", False
    if "No route to host" in text or "Network is unreachable" in text:
        return "no route to the gateway host", False
    return "network error", True


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "…"


# Gateway kinds (INTERFACE §7). The WAHA and Evolution adapters build on this module, so they are
# named here and imported on first use.
ADAPTERS: dict[str, type | str] = {
    "vps": VpsGateway,
    "waha": "whatsapp_crm.gateway_waha.WahaGateway",
    "evolution": "whatsapp_crm.gateway_evolution.EvolutionGateway",
}


def get_gateway() -> Gateway:
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
    return adapter()
