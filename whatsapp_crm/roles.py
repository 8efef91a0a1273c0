"""Roles (INTERFACE.md §6), enforced in one place for pages, htmx partials and the API.

- member: reads everything, looks up phones, creates scheduled messages and campaigns;
- admin: also connects, reconnects and logs out sessions, syncs groups, manages artists,
  gateways and queue actions (cancel, retry, mark sent/failed);
- owner: also manages the organization's members.

Pages use `@role_required("admin")` (it includes `@organization_required`); DRF views set
`required_role = "admin"` (checked by `HasRequiredRole`, part of `OrganizationAPIView`).
A forbidden action answers 403 and changes nothing; templates hide what the role cannot do
with `can_manage` / `is_owner` (context processor `role_context`).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework import permissions

from whatsapp_crm.models import OrganizationMember
from whatsapp_crm.tenancy import organization_required
from whatsapp_crm.ui import toast

Role = OrganizationMember.Role
RANK = {Role.MEMBER: 0, Role.ADMIN: 1, Role.OWNER: 2}
NEEDS = {
    Role.ADMIN: "an admin or owner of the organization",
    Role.OWNER: "an owner of the organization",
}


def role_of(user: Any) -> str | None:
    """The user's role in its organization, None without one (cached on the user object)."""
    if not user or not user.is_authenticated:
        return None
    if not hasattr(user, "_crm_role"):
        user._crm_role = (
            OrganizationMember.objects.filter(user=user).values_list("role", flat=True).first()
        )
    return user._crm_role


def role_allows(role: str | None, needed: str) -> bool:
    return role is not None and RANK.get(role, -1) >= RANK[needed]


def denied_message(needed: str) -> str:
    return f"Only {NEEDS.get(needed, needed)} can do this. Ask an owner to change your role."


def role_required(
    needed: str,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Page views: login + organization required, and at least the `needed` role; otherwise
    403 (a toast for htmx requests, a page for full loads) before the view runs."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @organization_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not role_allows(role_of(request.user), needed):
                return forbidden(request, denied_message(needed))
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def forbidden(request: HttpRequest, message: str) -> HttpResponse:
    if getattr(request, "htmx", False):
        response = HttpResponse(message, status=403, content_type="text/plain")
        return toast(response, message, "error")
    return render(request, "whatsapp_crm/forbidden.html", {"message": message}, status=403)


class HasRequiredRole(permissions.BasePermission):
    """DRF: `view.required_role` ("member" by default), or a dict per HTTP method."""

    message = "Your role does not allow this."

    def has_permission(self, request: Any, view: Any) -> bool:
        needed = getattr(view, "required_role", Role.MEMBER)
        if isinstance(needed, dict):
            needed = needed.get(request.method, Role.MEMBER)
        if role_allows(role_of(request.user), needed):
            return True
        self.message = denied_message(needed)
        return False


def role_context(request: HttpRequest) -> dict[str, Any]:
    role = role_of(getattr(request, "user", None))
    return {
        "current_role": role,
        "can_manage": role_allows(role, Role.ADMIN),
        "is_owner": role_allows(role, Role.OWNER),
    }
