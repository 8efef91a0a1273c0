"""The organization's time zone: every page shows times in it.

`Organization.time_zone` holds an IANA name ("Europe/Berlin"); owners set it on the team page.
`OrganizationTimeZoneMiddleware` activates it for each page request, so templates, `localtime`
and "today" (the start page's sends since midnight) are the organization's. The JSON API and
webhooks keep UTC: scripts read ISO times with an offset either way, and a script's output must
not change when an owner changes a setting.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from whatsapp_crm.errors import ApplicationError

# Paths that keep UTC (the JSON API and the webhooks under it).
UTC_PATH_PREFIXES = ("/api/",)


@lru_cache(maxsize=1)
def time_zone_names() -> tuple[str, ...]:
    """Every IANA zone name the system knows, sorted (for the settings form)."""
    return tuple(sorted(zoneinfo.available_timezones()))


def default_time_zone() -> str:
    return settings.TIME_ZONE


def validate_time_zone(value: Any) -> None:
    if not isinstance(value, str) or value not in time_zone_names():
        raise ValidationError(
            "Unknown time zone %(value)s: use an IANA name such as Europe/Berlin.",
            params={"value": repr(value)[:80]},
            code="invalid_time_zone",
        )


def organization_set_time_zone(*, organization: Any, time_zone: str) -> Any:
    """Store the organization's time zone; an unknown name changes nothing."""
    name = (time_zone or "").strip()
    try:
        validate_time_zone(name)
    except ValidationError as exc:
        message = exc.messages[0]
        raise ApplicationError(message, details={"time_zone": [message]}) from exc
    organization.time_zone = name
    organization.save(update_fields=["time_zone"])
    return organization


def organization_zone(organization: Any) -> zoneinfo.ZoneInfo:
    """The organization's zone; the default one for none or a name the system lost."""
    name = getattr(organization, "time_zone", "") if organization else ""
    try:
        return zoneinfo.ZoneInfo(name or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


class OrganizationTimeZoneMiddleware:
    """Activates the organization's time zone for page requests (after OrganizationMiddleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(UTC_PATH_PREFIXES):
            return self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            organization = getattr(request, "organization", None)
            timezone.activate(organization_zone(organization if organization else None))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
