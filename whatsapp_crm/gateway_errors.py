"""The gateway error: one `GatewayError` for every failed gateway call, the trimmed error body
API clients see, and how transport exceptions are read (refused, reset, unresolvable host).
`whatsapp_crm.gateway` re-exports everything here; import from there."""

from __future__ import annotations

import json
from typing import Any

from whatsapp_crm.text import short_text


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


def wrong_kind(expected: str, base_url: str, exc: GatewayError) -> GatewayError:
    """The server answered, but not like a gateway of the expected kind."""
    return GatewayError(
        f"{base_url} answered, but not like {expected} ({exc.message}). "
        "Is it another kind of gateway, or is the base URL wrong?",
        status_code=exc.status_code,
        permanent=True,
        code="wrong_kind",
        body=exc.body,
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
