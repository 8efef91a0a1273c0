"""WHAPI client: the only code that calls WHAPI (group members of the artists' WhatsApp groups)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests
from django.conf import settings


class WhapiError(Exception):
    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        permanent: bool = False,
        rate_limited: bool = False,
        retry_after: float | None = None,
        code: str = "error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.permanent = permanent
        self.rate_limited = rate_limited
        self.retry_after = retry_after
        self.code = code

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class WhapiParticipant:
    id: str  # digits of the international number, or "<id>@lid" (privacy id, no phone)
    rank: str  # creator | admin | member

    @property
    def is_privacy_id(self) -> bool:
        return self.id.endswith("@lid")


@dataclass(frozen=True)
class WhapiGroup:
    id: str
    name: str
    participants: list[WhapiParticipant] = field(default_factory=list)


RANKS = {"creator", "admin", "member"}


class WhapiClient:
    def __init__(
        self,
        *,
        base_url: str | None = None,
        token: str | None = None,
        timeout: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = (base_url or settings.WHAPI_URL).rstrip("/")
        self.token = token if token is not None else settings.WHAPI_TOKEN
        self.timeout = timeout if timeout is not None else settings.WHAPI_TIMEOUT_SECONDS
        self.http = session or requests.Session()

    def get_group(self, group_id: str) -> WhapiGroup:
        """Members of one group; `group_id` is given without "@g.us"."""
        group_id = group_id.strip().removesuffix("@g.us")
        url = f"{self.base_url}/groups/{quote(group_id)}@g.us"
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = self.http.get(url, headers=headers, timeout=(5.0, self.timeout))
        except requests.exceptions.Timeout as exc:
            raise WhapiError(
                f"WHAPI did not answer within {self.timeout:g} s.", code="timeout"
            ) from exc
        except requests.exceptions.RequestException as exc:
            raise WhapiError(f"WHAPI unreachable: {str(exc)[:200]}", code="unreachable") from exc

        status = response.status_code
        try:
            body: Any = response.json()
        except ValueError:
            body = None
        if status == 429:
            retry_after = _retry_after(response.headers.get("Retry-After"))
            raise WhapiError(
                "WHAPI rate limit reached (429).",
                status_code=429,
                rate_limited=True,
                retry_after=retry_after,
                code="rate_limited",
            )
        if status in (401, 403):
            raise WhapiError(
                f"WHAPI rejected the token ({status}). Check WHAPI_TOKEN.",
                status_code=status,
                permanent=True,
                code="unauthorized",
            )
        if status == 404:
            raise WhapiError(
                f"WhatsApp group {group_id}@g.us not found at WHAPI.",
                status_code=404,
                permanent=True,
                code="not_found",
            )
        if status >= 400:
            message = body.get("error") if isinstance(body, dict) else None
            raise WhapiError(
                f"WHAPI error {status}: {message or 'no reason given'}",
                status_code=status,
                permanent=400 <= status < 500,
                code="server_error" if status >= 500 else "rejected",
            )
        if not isinstance(body, dict) or not isinstance(body.get("participants"), list):
            raise WhapiError(
                "WHAPI answered without a participants list.",
                status_code=status,
                code="bad_response",
            )
        participants = []
        for item in body["participants"]:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            rank = item.get("rank") if item.get("rank") in RANKS else "member"
            participants.append(WhapiParticipant(id=item["id"].strip(), rank=rank))
        return WhapiGroup(
            id=str(body.get("id") or f"{group_id}@g.us"),
            name=str(body.get("name") or "")[:255],
            participants=participants,
        )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
