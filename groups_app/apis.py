"""JSON API for groups (INTERFACE.md §6): sync a session's groups, list them."""

from __future__ import annotations

import uuid

from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_serializer,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from groups_app.models import WhatsAppGroup
from groups_app.selectors import group_list
from groups_app.services import GroupSyncDatabaseError, group_sync
from sessions_app.selectors import session_get
from whatsapp_crm.api import OrganizationAPIView, OrganizationListAPIView

_ERROR_SCHEMA = inline_serializer(
    name="GroupSyncError",
    fields={
        "success": serializers.BooleanField(),
        "upstream": serializers.ChoiceField(choices=["vps", "db"]),
        "error": serializers.CharField(),
        "code": serializers.CharField(),
        "details": serializers.DictField(),
    },
)


class GroupSyncApi(OrganizationAPIView):
    """POST /api/sessions/{id}/sync-groups/: fetch from the gateway, store, report what was saved."""

    required_role = "admin"

    @extend_schema_serializer(component_name="GroupSyncResult")
    class OutputSerializer(serializers.Serializer):
        success = serializers.BooleanField()
        vps_count = serializers.IntegerField()
        saved_count = serializers.IntegerField()
        skipped_community_parents = serializers.IntegerField()
        duplicate_count = serializers.IntegerField()
        invalid_count = serializers.IntegerField()
        deactivated_count = serializers.IntegerField()

    @extend_schema(
        request=None,
        responses={200: OutputSerializer, 500: _ERROR_SCHEMA, 502: _ERROR_SCHEMA},
        operation_id="sessions_sync_groups",
    )
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        session = session_get(organization=self.organization, pk=pk)
        try:
            result = group_sync(session=session)
        except GroupSyncDatabaseError as exc:
            # GatewayError is answered 502 by the shared exception handler.
            return Response(
                {
                    "success": False,
                    "upstream": "db",
                    "error": exc.message,
                    "code": exc.code,
                    "details": exc.details,
                },
                status=500,
            )
        return Response(self.OutputSerializer(result).data)


class GroupListApi(OrganizationListAPIView):
    """GET /api/sessions/{id}/groups/: the session's groups (active ones unless ?active=all)."""

    @extend_schema_serializer(component_name="WhatsAppGroup")
    class OutputSerializer(serializers.ModelSerializer):
        class Meta:
            model = WhatsAppGroup
            fields = [
                "id",
                "group_jid",
                "group_name",
                "participant_count",
                "is_community",
                "is_community_announce",
                "is_active",
                "synced_at",
            ]

    class FilterSerializer(serializers.Serializer):
        active = serializers.ChoiceField(choices=["true", "false", "all"], default="true")
        search = serializers.CharField(required=False, allow_blank=True, max_length=100)
        sendable = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        parameters=[
            OpenApiParameter("active", str, enum=["true", "false", "all"], default="true"),
            OpenApiParameter("search", str, description="part of the name or JID"),
            OpenApiParameter("sendable", bool, description="only groups a message can go to"),
        ],
        responses=OutputSerializer(many=True),  # paginated like every list
        operation_id="sessions_groups_list",
    )
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        session = session_get(organization=self.organization, pk=pk)
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        active = {"true": True, "false": False, "all": None}[filters.validated_data["active"]]
        groups = group_list(
            organization=self.organization,
            session=session,
            active=active,
            search=filters.validated_data.get("search"),
            sendable_only=filters.validated_data["sendable"],
        )
        return self.page(groups, self.OutputSerializer)
