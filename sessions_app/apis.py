"""JSON API for sessions (INTERFACE.md §6) and the gateway's status webhook (§5)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from gateways_app import selectors as gateway_selectors
from sessions_app import selectors, services
from sessions_app.models import WhatsAppSession
from whatsapp_crm.api import OrganizationAPIView, OrganizationListAPIView
from whatsapp_crm.models import WebhookEvent
from whatsapp_crm.webhooks import WebhookRejected, WebhookResult, WebhookView

Status = WhatsAppSession.Status

SESSION_FIELDS = [
    "id",
    "session_id",
    "name",
    "gateway",
    "status",
    "phone_number",
    "last_error",
    "last_error_at",
    "created_at",
    "updated_at",
]


class SessionOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = WhatsAppSession
        fields = SESSION_FIELDS
        read_only_fields = SESSION_FIELDS
        ref_name = "Session"


class SessionListApi(OrganizationListAPIView):
    """GET /api/sessions/ — the organization's sessions, newest first."""

    OutputSerializer = SessionOutputSerializer

    @extend_schema(responses=OutputSerializer(many=True), operation_id="sessions_list")
    def get(self, request: Request) -> Response:
        queryset = selectors.session_list(organization=self.organization)
        return self.page(queryset, SessionListApi.OutputSerializer)


class SessionCreateApi(OrganizationAPIView):
    """POST /api/sessions/ — start a new session at the gateway (then fetch its QR code)."""

    required_role = "admin"

    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        # A gateway row of the organization (whatsapp_gateways.id); absent/null: the default one.
        gateway = serializers.UUIDField(required=False, allow_null=True, default=None)

        class Meta:
            ref_name = "SessionCreateInput"

    OutputSerializer = SessionOutputSerializer

    @extend_schema(
        request=InputSerializer,
        responses={201: OutputSerializer, 502: OpenApiResponse(description="Gateway failed")},
        operation_id="sessions_create",
    )
    def post(self, request: Request) -> Response:
        serializer = SessionCreateApi.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        gateway = None
        if serializer.validated_data["gateway"] is not None:
            gateway = gateway_selectors.gateway_of_organization(
                organization=self.organization, pk=serializer.validated_data["gateway"]
            )
            if gateway is None:
                raise serializers.ValidationError(
                    {"gateway": ["No gateway with this id in your organization."]}
                )
        session = services.session_create(
            organization=self.organization, name=serializer.validated_data["name"], gateway=gateway
        )
        return Response(SessionCreateApi.OutputSerializer(session).data, status=201)


class SessionCollectionApi(SessionListApi, SessionCreateApi):
    """/api/sessions/: GET lists (SessionListApi), POST creates (SessionCreateApi)."""

    required_role = {"POST": "admin"}


class SessionDetailApi(OrganizationAPIView):
    """GET /api/sessions/{id}/ — one session of the organization."""

    OutputSerializer = SessionOutputSerializer

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request, pk: uuid.UUID) -> Response:
        session = selectors.session_get(organization=self.organization, pk=pk)
        return Response(self.OutputSerializer(session).data)


class SessionVerifyApi(OrganizationAPIView):
    """POST /api/sessions/{id}/verify/ — ask the gateway and store the true status.

    502 with vps_status "unreachable" when the gateway cannot be asked; nothing is changed then.
    """

    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField(source="session.id")
        status = serializers.CharField(source="session.status")
        vps_status = serializers.CharField()
        phone_number = serializers.CharField(source="session.phone_number", allow_null=True)
        last_error = serializers.CharField(source="session.last_error")
        last_error_at = serializers.DateTimeField(source="session.last_error_at", allow_null=True)

        class Meta:
            ref_name = "SessionVerifyResult"

    @extend_schema(request=None, responses={200: OutputSerializer, 502: OutputSerializer})
    def post(self, request: Request, pk: uuid.UUID) -> Response:
        session = selectors.session_get(organization=self.organization, pk=pk)
        result = services.session_verify(session=session)
        data: dict[str, Any] = dict(self.OutputSerializer(result).data)
        if result.unreachable:
            error = result.error
            data.update(
                success=False,
                upstream="vps",
                error=error.message if error else "Gateway unreachable.",
                code=error.code if error else "unreachable",
            )
            return Response(data, status=502)
        data["success"] = True
        return Response(data)


# --- webhook ----------------------------------------------------------------------------------------


@extend_schema_field({"oneOf": [{"type": "number"}, {"type": "string", "format": "date-time"}]})
class EventTimestampField(serializers.Field):
    """A gateway's event time: epoch seconds or milliseconds (WAHA sends ms), or ISO 8601."""

    default_error_messages = {"invalid": "Epoch seconds, epoch milliseconds or ISO 8601 expected."}

    def to_internal_value(self, data: Any) -> datetime:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, (int, float)):
            seconds = data / 1000 if data > 10**11 else data
            try:
                return datetime.fromtimestamp(seconds, tz=UTC)
            except (OverflowError, OSError, ValueError):
                self.fail("invalid")
        if isinstance(data, str) and len(data) <= 40:
            parsed = parse_datetime(data.strip())
            if parsed is not None:
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        self.fail("invalid")

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


class SessionStatusWebhookApi(WebhookView):
    """POST /api/webhooks/whatsapp/status/ — the gateway reports a session's status change."""

    source = "session_status"

    class InputSerializer(serializers.Serializer):
        event = serializers.ChoiceField(choices=["session_status"], required=False)
        sessionId = serializers.CharField(max_length=100)  # noqa: N815 (the protocol's name)
        status = serializers.ChoiceField(choices=Status.values)
        phoneNumber = serializers.CharField(  # noqa: N815
            required=False, allow_null=True, allow_blank=True, max_length=64
        )
        error = serializers.CharField(
            required=False, allow_null=True, allow_blank=True, trim_whitespace=True
        )
        # When the gateway saw the change: epoch seconds or milliseconds, or ISO 8601.
        timestamp = EventTimestampField(required=False, allow_null=True)

        def validate_phoneNumber(self, value: str | None) -> str | None:  # noqa: N802
            if value in (None, ""):
                return None
            phone = services.gateway_phone_number(value)
            if phone is None:
                raise serializers.ValidationError(
                    "Not a phone number: digits of the international number expected."
                )
            return phone

        class Meta:
            ref_name = "SessionStatusWebhookInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer(
                "SessionStatusWebhookAnswer",
                {
                    "success": serializers.BooleanField(),
                    "session": serializers.UUIDField(),
                    "status": serializers.CharField(),
                },
            )
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def apply(self, data: dict[str, Any], event: WebhookEvent) -> WebhookResult:
        # A number may move only on "connected" with a number: then the organization is locked
        # before the session (services.session_mark_connected); otherwise the session is read
        # and locked at once.
        locked = not (data["status"] == Status.CONNECTED and data.get("phoneNumber"))
        if locked:
            session = selectors.session_lock_by_gateway_id(session_id=data["sessionId"])
        else:
            session = selectors.session_get_by_gateway_id(session_id=data["sessionId"])
        if session is None:
            raise WebhookRejected(404, "Unknown session", {"sessionId": data["sessionId"]})
        return status_apply(
            session,
            status=data["status"],
            phone_number=data.get("phoneNumber"),
            error=data.get("error"),
            reported_at=data.get("timestamp"),
            locked=locked,
        )


def status_apply(
    session: WhatsAppSession,
    *,
    status: str,
    phone_number: str | None,
    error: str | None,
    reported_at: datetime | None,
    locked: bool = False,
) -> WebhookResult:
    """A status event of `session` applied, and the webhook's answer (our protocol and the WAHA /
    Evolution receivers): an event older than the applied one is answered `"ignored": true`."""
    try:
        session = services.session_apply_reported_status(
            session=session,
            status=status,
            phone_number=phone_number,
            error=error,
            reported_at=reported_at,
            locked=locked,
        )
    except services.StaleStatusReport as stale:
        return WebhookResult(
            200,
            {
                "success": True,
                "ignored": True,
                "reason": str(stale),
                "session": str(session.id),
                "status": stale.current_status,
            },
            detail=f"{session.session_id}: {stale}",
            reference=session.session_id,
        )
    return WebhookResult(
        200,
        {"success": True, "session": str(session.id), "status": session.status},
        detail=f"{session.session_id} → {session.status}",
        reference=session.session_id,
    )
