"""The "a number is down" banner of the base layout, on every page while a session cannot send."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from django.db import DatabaseError
from django.http import HttpRequest

from sessions_app.models import WhatsAppSession
from sessions_app.selectors import fingerprint, session_down_list


class SessionsDown:
    """Read only when a template shows it: partials rendered with the request pay nothing."""

    def __init__(self, organization: Any) -> None:
        self.organization = organization

    @cached_property
    def sessions(self) -> list[WhatsAppSession]:
        if not self.organization:
            return []
        try:
            return session_down_list(organization=self.organization)
        except DatabaseError:
            return []

    @cached_property
    def version(self) -> str:
        return fingerprint(
            [
                (s.pk, s.status, s.phone_number, s.name, s.last_error, s.last_error_at)
                for s in self.sessions
            ]
        )


def sessions_down_banner(request: HttpRequest) -> dict[str, Any]:
    """Context processor: the organization's sessions that are down (logged-in staff only)."""
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    organization = getattr(request, "organization", None)
    return {"sessions_down": SessionsDown(organization if organization else None)}
