"""What the adapters for other people's gateways (WAHA, Evolution API) share.

They reuse `VpsGateway._request` — its timeouts, call deadline and the one mapping of transport
failures and HTTP statuses to `GatewayError` — and add only what differs:

- the gateway's own auth header (`X-Api-Key` for WAHA, `apikey` for Evolution, INTERFACE §7);
- answers of any JSON shape: both gateways answer arrays (group lists), which `_request` does not
  return, so the HTTP session is wrapped to keep the last answer for `_call` to parse;
- the gateway's own error text (NestJS `message`/`error`, Evolution `response.message`) instead of
  its generic reason phrase, and each gateway's "not connected" answers turned into the temporary
  `not_connected` error (`translate`).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import requests

from whatsapp_crm.gateway import GatewayError, VpsGateway, WebhookTarget, wrong_kind

# How much of a gateway's error text goes into a GatewayError message.
GATEWAY_TEXT_MAX_CHARS = 300


class AuthHeaderHttp:
    """The HTTP session `VpsGateway._request` calls, sending the key under this gateway's header
    and keeping the last answer (per thread) for `ThirdPartyGateway._call`."""

    def __init__(self, session: requests.Session, *, header: str, api_key: str) -> None:
        self.session = session
        self.header = header
        self.api_key = api_key
        self._local = threading.local()

    def request(
        self, method: str, url: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> requests.Response:
        # Only this gateway's header carries the key: it is not sent under a second name.
        sent = {k: v for k, v in (headers or {}).items() if k.lower() != "x-api-key"}
        sent[self.header] = self.api_key
        response = self.session.request(method, url, headers=sent, **kwargs)
        self._local.response = response
        return response

    def forget(self) -> None:
        self._local.response = None

    @property
    def last_response(self) -> requests.Response | None:
        return getattr(self._local, "response", None)

    def __getattr__(self, name: str) -> Any:  # mount, close, headers… of the real session
        return getattr(self.session, name)


class ThirdPartyGateway(VpsGateway):
    """Base of the WAHA and Evolution adapters; subclasses implement the six protocol calls."""

    kind = ""  # names the gateway in messages: "WAHA", "Evolution API"
    auth_header = "X-Api-Key"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        session: requests.Session | None = None,
        webhook: WebhookTarget | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url, api_key=api_key, timeout=timeout, session=session, webhook=webhook
        )
        self.auth_http = AuthHeaderHttp(self.http, header=self.auth_header, api_key=self.api_key)
        self.http = self.auth_http

    def _call(
        self, method: str, path: str, *, json: dict[str, Any] | None = None, sending: bool = False
    ) -> Any:
        """One call through `VpsGateway._request`; returns the parsed JSON answer, whatever its
        shape (None for an empty body)."""
        http = self.auth_http
        http.forget()
        try:
            self._request(method, path, json=json, expect_json=False, sending=sending)
        except GatewayError as exc:
            better = self.translate(exc)
            if better is exc:
                raise
            raise better from exc
        response = http.last_response
        if response is None or not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise GatewayError(
                f"{self.kind} answered {response.status_code} with a body that is not JSON.",
                status_code=response.status_code,
                code="bad_response",
                ambiguous=sending,
                body=response.text[:500],
            ) from None

    def check_listing(self, path: str) -> None:
        """`check_connection` of both gateways: `path` lists something (an array) with a valid
        key; 401/403 is a wrong key; any other answer is not this kind of gateway."""
        try:
            body = self._call("GET", path)
        except GatewayError as exc:
            if exc.code in ("not_found", "rejected", "server_error", "bad_response"):
                raise wrong_kind(self.kind, self.base_url, exc) from exc
            raise
        if not isinstance(body, list):
            raise wrong_kind(
                self.kind,
                self.base_url,
                GatewayError(f"GET {path} is not a list", body=body),
            )

    def translate(self, exc: GatewayError) -> GatewayError:
        """The error as this gateway means it; subclasses add their not-connected answers."""
        text = gateway_text(exc.body)
        if not text or exc.status_code is None:
            return exc
        prefix = {
            "rejected": f"{self.kind} refused the request ({exc.status_code}): ",
            "server_error": f"{self.kind} error {exc.status_code}: ",
            "not_found": f"{self.kind}: ",
        }.get(exc.code)
        if prefix is None:  # unauthorized, rate_limited: our own message says what to do
            return exc
        return error_with(exc, message=prefix + text)

    def bad_response(self, what: str, body: Any, *, ambiguous: bool = False) -> GatewayError:
        return GatewayError(
            f"{self.kind}'s {what} is not in the expected format.",
            code="bad_response",
            ambiguous=ambiguous,
            body=body,
        )


def error_with(exc: GatewayError, **changes: Any) -> GatewayError:
    """A copy of `exc` with some fields changed."""
    fields = {
        "message": exc.message,
        "status_code": exc.status_code,
        "permanent": exc.permanent,
        "ambiguous": exc.ambiguous,
        "code": exc.code,
        "body": exc.body,
    }
    fields.update(changes)
    message = fields.pop("message")
    return GatewayError(message, **fields)


def gateway_text(body: Any) -> str:
    """The human part of a gateway's error body ("" when there is none).

    NestJS (WAHA): {"message": str|[str], "error": "<reason phrase>", "statusCode"} or, for WAHA's
    own errors, {"error": "<text>", ...}; an unexpected error: {"exception": {"message"}}.
    Evolution: {"status", "error": "<reason phrase>", "response": {"message": str|[...]}}.
    """
    if isinstance(body, str):
        text = body.strip()
        return "" if text.startswith("<") else text[:GATEWAY_TEXT_MAX_CHARS]
    if not isinstance(body, dict):
        return ""
    candidates: list[Any] = []
    response = body.get("response")
    if isinstance(response, dict):
        candidates.append(response.get("message"))
    candidates.append(body.get("message"))
    exception = body.get("exception")
    if isinstance(exception, dict):
        candidates.append(exception.get("message"))
    candidates.append(body.get("error"))
    for candidate in candidates:
        text = _flatten(candidate)
        if text:
            return text[:GATEWAY_TEXT_MAX_CHARS]
    return ""


def _flatten(value: Any) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list):
        return "; ".join(t for t in (_flatten(v) for v in value) if t)
    if isinstance(value, dict):
        if value.get("exists") is False and value.get("number"):
            # Evolution's answer for a number that has no WhatsApp account.
            return f"{value['number']} is not on WhatsApp"
        return json.dumps(value, default=str)
    return ""


def phone_from_jid(jid: Any) -> str | None:
    """Digits of a WhatsApp user id ("4915112345678@c.us", "…:12@s.whatsapp.net"), else None."""
    if not isinstance(jid, str):
        return None
    user = jid.split("@", 1)[0].split(":", 1)[0].strip()
    return user if user.isdigit() else None


def bare_message_id(body: Any) -> str | None:
    """The id WhatsApp gave a sent message, from any of the gateways' answer shapes.

    `key.id` (Baileys: WAHA NOWEB, Evolution), `id` as a string or `{"id", "_serialized"}`
    (WAHA GOWS / WEBJS). WAHA's serialized form is `<fromMe>_<chat>_<id>[_<participant>]`: only
    `<id>` is kept, so that receipts and errors reported later match whatever form they use.
    """
    if not isinstance(body, dict):
        return None
    key = body.get("key")
    if isinstance(key, dict) and isinstance(key.get("id"), str) and key["id"].strip():
        return key["id"].strip()
    value = body.get("id")
    if isinstance(value, dict):
        inner = value.get("id")
        if isinstance(inner, str) and inner.strip():
            return inner.strip()
        value = value.get("_serialized")
    if isinstance(value, str) and value.strip():
        return _bare(value.strip())
    return None


def _bare(message_id: str) -> str:
    parts = message_id.split("_")
    if len(parts) >= 3 and parts[0] in ("true", "false") and parts[2]:
        return parts[2]
    return message_id
