"""DRF foundations: organization scoping and one error format for every API."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.gateway import GatewayError
from whatsapp_crm.models import Organization
from whatsapp_crm.permissions import IsOrganizationMember

logger = logging.getLogger(__name__)


class OrganizationAPIView(APIView):
    """Base for staff APIs: `self.organization` is the caller's; scope every query to it."""

    permission_classes = [IsOrganizationMember]

    @property
    def organization(self) -> Organization:
        return self.request.organization  # type: ignore[attr-defined]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """`{"success": false, "error", "details"}` for every error; gateway failures are 502."""
    if isinstance(exc, GatewayError):
        return Response(
            {
                "success": False,
                "upstream": "vps",
                "error": exc.message,
                "code": exc.code,
                "details": exc.as_details(),
            },
            status=502,
        )
    if isinstance(exc, ApplicationError):
        return Response(
            {"success": False, "error": exc.message, "details": exc.details}, status=400
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        response.data = {"success": False, "error": _first_error(data), "details": data}
    else:
        detail = data.get("detail") if isinstance(data, dict) else data
        response.data = {"success": False, "error": str(detail), "details": {}}
    return response


def _first_error(data: Any) -> str:
    """A one-line summary of a DRF validation error ("phone: This field is required.")."""
    if isinstance(data, dict):
        for key, value in data.items():
            inner = _first_error(value)
            return inner if key == "non_field_errors" else f"{key}: {inner}"
    if isinstance(data, list) and data:
        return _first_error(data[0])
    return str(data) if data else "Invalid input."
