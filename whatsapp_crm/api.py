"""The DRF core: organization scoping, OpenAPI naming, one error format for every API, URL routes with and
without the trailing slash, and the task-run endpoint shared by the apps.

The JSON parser that DRF's settings name is in `parsers.py`: DRF imports it while
`rest_framework.views` is still loading, so it cannot live here."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path
from drf_spectacular.openapi import AutoSchema as BaseAutoSchema
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.gateway import GatewayError
from whatsapp_crm.models import Organization, TaskRun
from whatsapp_crm.permissions import IsOrganizationMember
from whatsapp_crm.roles import HasRequiredRole

logger = logging.getLogger(__name__)


def api_path(route: str, view: Any, *, name: str) -> list[URLPattern]:
    """`route` with and without its trailing slash (INTERFACE.md §5–§6), reversed with the slash.

    Ids use path converters (`<uuid:pk>`), so a malformed id is a 404 before any query runs.
    """
    return [path(f"{route}/", view, name=name), path(route, view)]


def schema_without_slashless_routes(endpoints: list[tuple], **kwargs: Any) -> list[tuple]:
    """OpenAPI preprocessing hook: `api_path` routes appear once, with their trailing slash."""
    paths = {endpoint[0] for endpoint in endpoints}
    return [e for e in endpoints if e[0].endswith("/") or f"{e[0]}/" not in paths]


class AutoSchema(BaseAutoSchema):
    """Names nested serializers after their view ("SessionVerifyApiOutput"), so that the many
    `InputSerializer`/`OutputSerializer` classes (one APIView per operation) never collide."""

    def get_serializer_name(self, serializer: Any, direction: str) -> str:
        return type(serializer).__qualname__.replace(".", "")


class OrganizationAPIView(APIView):
    """Base for staff APIs: `self.organization` is the caller's; scope every query to it."""

    permission_classes = [IsOrganizationMember, HasRequiredRole]
    # "member" | "admin" | "owner", or {"POST": "admin"} per method (whatsapp_crm/roles.py).
    required_role: str | dict[str, str] = "member"

    @property
    def organization(self) -> Organization:
        return self.request.organization  # type: ignore[attr-defined]


class OrganizationListAPIView(GenericAPIView, OrganizationAPIView):
    """Base for list endpoints: `self.page(queryset, Serializer)` answers one page with DRF's
    default paginator (`{"count","next","previous","results"}`)."""

    def page(self, queryset: Any, serializer_class: type[serializers.BaseSerializer]) -> Response:
        rows = self.paginate_queryset(queryset)
        return self.get_paginated_response(serializer_class(rows, many=True).data)


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
    elif isinstance(exc, RequestDataTooBig):  # read by the JSON parser, outside its own errors
        exc = exceptions.ParseError("The body is too large.")
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


class TaskRunDetailApi(OrganizationAPIView):
    """Progress and result of a background job started through the API."""

    class OutputSerializer(serializers.ModelSerializer):
        task_id = serializers.UUIDField(source="id")
        progress = serializers.SerializerMethodField()

        class Meta:
            model = TaskRun
            fields = [
                "task_id",
                "kind",
                "state",
                "progress",
                "result",
                "error",
                "created_at",
                "updated_at",
            ]

        def get_progress(self, obj: TaskRun) -> dict[str, int]:
            return {"done": obj.done, "total": obj.total}

    @extend_schema(responses=OutputSerializer, operation_id="tasks_retrieve")
    def get(self, request: Request, task_id: Any) -> Response:
        run = get_object_or_404(TaskRun, id=task_id, organization=self.organization)
        return Response(self.OutputSerializer(run).data)
