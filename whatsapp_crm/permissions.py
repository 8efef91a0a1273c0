from __future__ import annotations

from typing import Any

from rest_framework import permissions

from whatsapp_crm.tenancy import organization_for_user


class IsOrganizationMember(permissions.BasePermission):
    """Authenticated and in an organization; sets `request.organization` for the view."""

    message = "Your account does not belong to an organization."

    def has_permission(self, request: Any, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        organization = organization_for_user(request.user)
        if organization is None:
            return False
        request.organization = organization
        return True
