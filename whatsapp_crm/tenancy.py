"""Tenancy: every request works inside exactly one organization, the user's.

Pages read `request.organization` (set lazily by the middleware); DRF views use
`whatsapp_crm.api.OrganizationAPIView.organization`. Querysets are always filtered by it, so
another organization's ids answer 404.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, cast

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.functional import SimpleLazyObject

from whatsapp_crm.htmx import HtmxHttpRequest
from whatsapp_crm.models import Organization, OrganizationMember


def organization_for_user(user: Any) -> Organization | None:
    if not user or not user.is_authenticated:
        return None
    membership = OrganizationMember.objects.select_related("organization").filter(user=user).first()
    return membership.organization if membership else None


class OrganizationMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HtmxHttpRequest) -> HttpResponse:
        # Lazy, so that only requests that read it query the membership. It wraps None for a
        # user without an organization; views that need one use `organization_required`.
        request.organization = cast(
            Organization, SimpleLazyObject(lambda: organization_for_user(request.user))
        )
        return self.get_response(request)


def organization_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Login required, and the user must belong to an organization (else 404, not a crash)."""

    @login_required
    @wraps(view)
    def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        organization = organization_for_user(request.user)
        if organization is None:
            raise Http404("Your account does not belong to an organization yet. Ask an admin.")
        request.organization = organization
        return view(request, *args, **kwargs)

    return wrapper


def organization_context(request: HttpRequest) -> dict[str, Any]:
    organization = getattr(request, "organization", None)
    return {"current_organization": organization if organization else None}
