"""JSON API for gateway rows (INTERFACE §6): list, add, read, remove, check.

Members read; admins and owners add, remove and check. The API key is write-only; the webhook
secret appears once, in the answer that created the gateway. Another organization's id is a 404.
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from gateways_app import selectors, services
from gateways_app.clients import receiver_path, receiver_url
from gateways_app.models import WhatsAppGateway
from whatsapp_crm.api import OrganizationAPIView, OrganizationListAPIView


def webhook_url(request: Request, gateway: WhatsAppGateway) -> str | None:
    """Where this gateway must post its webhooks (None for our own protocol: the VPS posts to
    /api/webhooks/whatsapp/… with WEBHOOK_API_KEY, docs/gateway-protocol.md)."""
    return receiver_url(gateway.kind, gateway) or (
        request.build_absolute_uri(path) if (path := receiver_path(gateway.kind, gateway)) else None
    )


class GatewayOutputSerializer(serializers.ModelSerializer):
    webhook_url = serializers.SerializerMethodField()
    session_count = serializers.SerializerMethodField()

    class Meta:
        model = WhatsAppGateway
        # Never the API key or the webhook secret.
        fields = [
            "id",
            "name",
            "kind",
            "base_url",
            "waha_single_session",
            "webhook_url",
            "session_count",
            "created_at",
        ]
        read_only_fields = fields
        ref_name = "Gateway"

    def get_webhook_url(self, obj: WhatsAppGateway) -> str | None:
        return webhook_url(self.context["request"], obj)

    def get_session_count(self, obj: WhatsAppGateway) -> int:
        count = getattr(obj, "session_count", None)
        return count if count is not None else obj.sessions.count()


class GatewayListApi(OrganizationListAPIView):
    """GET /api/gateways/ — the organization's gateways (secrets never included)."""

    @extend_schema(responses=GatewayOutputSerializer(many=True), operation_id="gateways_list")
    def get(self, request: Request) -> Response:
        rows = self.paginate_queryset(selectors.gateway_list(organization=self.organization))
        data = GatewayOutputSerializer(rows, many=True, context={"request": request}).data
        return self.get_paginated_response(data)


class GatewayCreateApi(OrganizationAPIView):
    """POST /api/gateways/ — add a gateway; the answer carries its webhook secret, once."""

    required_role = "admin"

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        kind = serializers.ChoiceField(choices=WhatsAppGateway.Kind.choices)
        base_url = serializers.URLField(max_length=500)
        api_key = serializers.CharField(max_length=500, write_only=True)
        waha_single_session = serializers.BooleanField(required=False, default=False)

        class Meta:
            ref_name = "GatewayCreateInput"

    class OutputSerializer(GatewayOutputSerializer):
        webhook_secret = serializers.CharField(
            read_only=True,
            help_text="What the gateway must send as X-Api-Key (WAHA: also its HMAC key). "
            "Shown only in this answer.",
        )

        class Meta(GatewayOutputSerializer.Meta):
            fields = [*GatewayOutputSerializer.Meta.fields, "webhook_secret"]
            read_only_fields = fields
            ref_name = "GatewayCreated"

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer},
        operation_id="gateways_create",
    )
    def post(self, request: Request) -> Response:
        serializer = GatewayCreateApi.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        gateway = services.gateway_create(
            organization=self.organization, **serializer.validated_data
        )
        data = GatewayCreateApi.OutputSerializer(gateway, context={"request": request}).data
        response = Response(data, status=201)
        response["Cache-Control"] = "no-store"  # the secret is shown once
        return response


class GatewayCollectionApi(GatewayListApi, GatewayCreateApi):
    """/api/gateways/: GET lists, POST adds (admins)."""

    required_role = {"POST": "admin"}


class GatewayDetailApi(OrganizationAPIView):
    """GET /api/gateways/{id}/ reads one gateway; DELETE removes it (admins), refused while
    sessions belong to it."""

    required_role = {"DELETE": "admin"}

    @extend_schema(responses=GatewayOutputSerializer, operation_id="gateways_retrieve")
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        gateway = selectors.gateway_get(organization=self.organization, pk=pk)
        return Response(GatewayOutputSerializer(gateway, context={"request": request}).data)

    @extend_schema(
        responses={
            204: OpenApiResponse(description="Removed"),
            400: OpenApiResponse(description="Sessions belong to it: refused"),
        },
        operation_id="gateways_destroy",
    )
    def delete(self, request: Request, pk: uuid.UUID) -> Response:
        gateway = selectors.gateway_get(organization=self.organization, pk=pk)
        services.gateway_delete(gateway=gateway)
        return Response(status=204)


CheckAnswer = inline_serializer(
    "GatewayCheckAnswer",
    {
        "ok": serializers.BooleanField(),
        "problem": serializers.CharField(),
        "message": serializers.CharField(),
        "error": serializers.CharField(required=False),
    },
)


class GatewayCheckApi(OrganizationAPIView):
    """POST /api/gateways/{id}/check/ — call the gateway: 200 {"ok": true} or 502 {"ok": false,
    "problem": unreachable|wrong_key|wrong_kind|unreadable_key|error, "error"}."""

    required_role = "admin"

    @extend_schema(
        request=None,
        responses={200: CheckAnswer, 502: CheckAnswer},
        operation_id="gateways_check",
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        gateway = selectors.gateway_get(organization=self.organization, pk=pk)
        result = services.gateway_check(gateway=gateway)
        data: dict[str, Any] = {
            "ok": result.ok,
            "problem": result.problem,
            "message": result.message,
        }
        if not result.ok:
            data["error"] = result.message
            return Response(data, status=502)
        return Response(data)
