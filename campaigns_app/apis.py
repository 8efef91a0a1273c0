"""JSON API (INTERFACE.md §6) and the message-error (§5) and message-ack (§8) webhooks of the
queue and campaigns."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns_app import queue, selectors, services
from campaigns_app.forms import (
    CAMPAIGN_NAME_MAX_LENGTH,
    MESSAGE_MAX_LENGTH,
    RECIPIENT_JID_MAX_LENGTH,
)
from campaigns_app.models import (
    NotificationCampaign,
    NotificationCampaignGroup,
    ScheduledWhatsAppMessage,
)
from sessions_app.apis import EventTimestampField
from sessions_app.models import WhatsAppSession
from sessions_app.selectors import session_get
from whatsapp_crm.api import OrganizationAPIView, OrganizationListAPIView
from whatsapp_crm.models import WebhookEvent
from whatsapp_crm.webhooks import WebhookRejected, WebhookResult, WebhookView


class ScheduledMessageOutputSerializer(serializers.ModelSerializer):
    organization_id = serializers.UUIDField(read_only=True)
    session_id = serializers.UUIDField(read_only=True)
    session = serializers.UUIDField(source="session_id", read_only=True)
    campaign_group_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = ScheduledWhatsAppMessage
        fields = [
            "id",
            "organization_id",
            "session_id",
            "session",
            "recipient_jid",
            "message",
            "scheduled_for",
            "status",
            "retry_count",
            "error_message",
            "vps_error",
            "message_id",
            "sent_at",
            "delivered_count",
            "read_count",
            "delivered_at",
            "read_at",
            "next_attempt_at",
            "client_message_id",
            "campaign_group_id",
            "created_at",
            "updated_at",
        ]


class CampaignGroupOutputSerializer(serializers.ModelSerializer):
    campaign_id = serializers.UUIDField(read_only=True)
    group_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = NotificationCampaignGroup
        fields = [
            "id",
            "campaign_id",
            "group_id",
            "group_jid",
            "group_name",
            "status",
            "message_id",
            "error_message",
            "sent_at",
            "delivered_count",
            "read_count",
            "delivered_at",
            "read_at",
        ]


class CampaignOutputSerializer(serializers.ModelSerializer):
    organization_id = serializers.UUIDField(read_only=True)
    session_id = serializers.UUIDField(read_only=True)
    session = serializers.UUIDField(source="session_id", read_only=True)
    groups = serializers.SerializerMethodField()

    class Meta:
        model = NotificationCampaign
        fields = [
            "id",
            "organization_id",
            "session_id",
            "session",
            "name",
            "message",
            "status",
            "total_groups",
            "sent_count",
            "failed_count",
            "cancelled_count",
            "delivered_count",
            "read_count",
            "scheduled_for",
            "created_at",
            "finished_at",
            "groups",
        ]

    @extend_schema_field(CampaignGroupOutputSerializer(many=True))
    def get_groups(self, obj: NotificationCampaign) -> list[dict[str, Any]]:
        rows = selectors.campaign_groups(campaign=obj)
        return CampaignGroupOutputSerializer(rows, many=True).data


class CampaignListOutputSerializer(CampaignOutputSerializer):
    class Meta(CampaignOutputSerializer.Meta):
        fields = [f for f in CampaignOutputSerializer.Meta.fields if f != "groups"]


class ScheduledMessageCollectionApi(OrganizationListAPIView):
    """GET: the organization's queue rows (?status=…). POST: schedule one message."""

    class InputSerializer(serializers.Serializer):
        session = serializers.UUIDField()
        recipient_jid = serializers.CharField(max_length=RECIPIENT_JID_MAX_LENGTH)
        message = serializers.CharField(max_length=MESSAGE_MAX_LENGTH)
        scheduled_for = serializers.DateTimeField(required=False, allow_null=True)

    @extend_schema(
        responses=ScheduledMessageOutputSerializer(many=True),
        operation_id="scheduled_messages_list",
        parameters=[
            OpenApiParameter("status", str, enum=list(ScheduledWhatsAppMessage.Status.values))
        ],
    )
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status") or None
        if status and status not in ScheduledWhatsAppMessage.Status.values:
            status = "__none__"
        rows = selectors.scheduled_message_list(organization=self.organization, status=status)
        return self.page(rows, ScheduledMessageOutputSerializer)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: ScheduledMessageOutputSerializer,
            404: OpenApiResponse(description="Unknown session"),
        },
        operation_id="scheduled_messages_create",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        row = services.scheduled_message_create(
            organization=self.organization,
            session=session_get(organization=self.organization, pk=data["session"]),
            recipient_jid=data["recipient_jid"],
            message=data["message"],
            scheduled_for=data.get("scheduled_for"),
            created_by=request.user,
        )
        return Response(ScheduledMessageOutputSerializer(row).data, status=201)


class ScheduledMessageDetailApi(OrganizationAPIView):
    @extend_schema(
        responses=ScheduledMessageOutputSerializer, operation_id="scheduled_messages_retrieve"
    )
    def get(self, request: Request, pk: UUID) -> Response:
        row = selectors.scheduled_message_get(organization=self.organization, pk=pk)
        return Response(ScheduledMessageOutputSerializer(row).data)


class CampaignCollectionApi(OrganizationListAPIView):
    """GET: the organization's campaigns. POST: create one (its groups are queued at once)."""

    class InputSerializer(serializers.Serializer):
        session = serializers.UUIDField()
        name = serializers.CharField(
            max_length=CAMPAIGN_NAME_MAX_LENGTH, required=False, allow_blank=True
        )
        message = serializers.CharField(max_length=MESSAGE_MAX_LENGTH)
        group_ids = serializers.ListField(
            child=serializers.UUIDField(), allow_empty=False, max_length=1000
        )
        scheduled_for = serializers.DateTimeField(required=False, allow_null=True)

    @extend_schema(responses=CampaignListOutputSerializer(many=True), operation_id="campaigns_list")
    def get(self, request: Request) -> Response:
        campaigns = selectors.campaign_list(organization=self.organization)
        return self.page(campaigns, CampaignListOutputSerializer)

    @extend_schema(
        request=InputSerializer,
        responses={
            201: CampaignOutputSerializer,
            400: OpenApiResponse(description="Bad input, e.g. a community parent group"),
        },
        operation_id="campaigns_create",
    )
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        campaign = services.campaign_create(
            organization=self.organization,
            session=session_get(organization=self.organization, pk=data["session"]),
            name=data.get("name") or "",
            message=data["message"],
            group_ids=data["group_ids"],
            scheduled_for=data.get("scheduled_for"),
            created_by=request.user,
        )
        return Response(CampaignOutputSerializer(campaign).data, status=201)


class CampaignDetailApi(OrganizationAPIView):
    @extend_schema(responses=CampaignOutputSerializer, operation_id="campaigns_retrieve")
    def get(self, request: Request, pk: UUID) -> Response:
        campaign = selectors.campaign_get(organization=self.organization, pk=pk)
        return Response(CampaignOutputSerializer(campaign).data)


class CampaignRetryFailedApi(OrganizationAPIView):
    required_role = "admin"

    @extend_schema(request=None, responses=CampaignOutputSerializer)
    def post(self, request: Request, pk: UUID) -> Response:
        campaign = selectors.campaign_get(organization=self.organization, pk=pk)
        queued = services.campaign_retry_failed(campaign=campaign)
        campaign.refresh_from_db()
        return Response(
            {"success": True, "queued": queued, **CampaignOutputSerializer(campaign).data}
        )


class CampaignCancelApi(OrganizationAPIView):
    """Cancel the groups still waiting; groups being sent are left to finish (INTERFACE §6)."""

    required_role = "admin"

    @extend_schema(
        request=None,
        responses={
            200: CampaignOutputSerializer,
            400: OpenApiResponse(description="The campaign is already finished"),
            403: OpenApiResponse(description="Not an admin of the organization"),
            404: OpenApiResponse(description="Unknown campaign"),
        },
    )
    def post(self, request: Request, pk: UUID) -> Response:
        campaign = selectors.campaign_get(organization=self.organization, pk=pk)
        result = services.campaign_cancel(campaign=campaign)
        campaign.refresh_from_db()
        return Response(
            {
                "success": True,
                "cancelled": result.cancelled,
                "in_flight": result.in_flight,
                "in_review": result.in_review,
                "detail": result.message,
                **CampaignOutputSerializer(campaign).data,
            }
        )


class MessageErrorWebhookApi(WebhookView):
    """`POST /api/webhooks/whatsapp/message-error/`: WhatsApp refused a message after the send."""

    source = queue.MESSAGE_ERROR_SOURCE

    class InputSerializer(serializers.Serializer):
        event = serializers.ChoiceField(choices=["message_error"], required=False)
        sessionId = serializers.CharField(max_length=100)
        messageId = serializers.CharField(max_length=200)
        errorCode = serializers.CharField(max_length=20, required=False, default="")
        errorMessage = serializers.CharField(
            max_length=2000, required=False, allow_blank=True, default=""
        )
        groupJid = serializers.CharField(
            max_length=100, required=False, allow_blank=True, allow_null=True
        )
        # Optional: the clientMessageId the CRM sent with /send; when present it is matched first,
        # exactly (docs/gateway-protocol.md).
        clientMessageId = serializers.CharField(
            max_length=100, required=False, allow_blank=True, allow_null=True
        )
        id = serializers.CharField(max_length=200, required=False, allow_null=True)

        class Meta:
            ref_name = "MessageErrorWebhookInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer(
                "MessageErrorWebhookAnswer",
                {
                    "success": serializers.BooleanField(),
                    "matched": serializers.BooleanField(),
                    "changed": serializers.BooleanField(required=False),
                    "duplicate": serializers.BooleanField(required=False),
                    "scheduled_message_id": serializers.UUIDField(required=False),
                },
            ),
            202: OpenApiResponse(description="Send not recorded yet: kept, applied later"),
            404: OpenApiResponse(description="Unknown session"),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def apply(self, data: dict[str, Any], event: WebhookEvent) -> WebhookResult:
        outcome = queue.message_error_apply(
            session_key=data["sessionId"],
            message_id=data["messageId"],
            error_code=data.get("errorCode") or "",
            error_message=data.get("errorMessage") or "",
            client_message_id=data.get("clientMessageId") or "",
        )
        if outcome.kind == "unknown_session":
            raise WebhookRejected(404, "Unknown session", {"sessionId": data["sessionId"]})
        return self.answer(outcome, data["messageId"])

    @staticmethod
    def answer(outcome: queue.MessageErrorOutcome, message_id: str) -> WebhookResult:
        """The answer to a message error (this webhook, and an `error` message ack)."""
        if outcome.kind == "pending":
            # The webhook beat the worker's commit: kept, applied when the send is recorded.
            return WebhookResult(
                202,
                {"success": True, "matched": False},
                outcome=WebhookEvent.Outcome.PENDING,
                detail=outcome.detail,
                reference=message_id,
            )
        return WebhookResult(
            200,
            {
                "success": True,
                "matched": True,
                "changed": outcome.kind == "applied",
                "scheduled_message_id": str(outcome.row_id),
            },
            detail=outcome.detail,
            reference=message_id,
        )


class MessageAckWebhookApi(WebhookView):
    """`POST /api/webhooks/whatsapp/message-ack/`: what WhatsApp did with a sent message
    (INTERFACE §8). `server` changes nothing; `delivered` / `read` / `played` are receipts of
    one participant (queue/receipts.py); `error` is a message error (sent → failed)."""

    source = queue.MESSAGE_ACK_SOURCE

    class InputSerializer(serializers.Serializer):
        event = serializers.ChoiceField(choices=["message_ack"], required=False)
        sessionId = serializers.CharField(max_length=100)
        messageId = serializers.CharField(max_length=200)
        ack = serializers.ChoiceField(choices=list(queue.ACKS))
        # The group member the receipt is about; absent for a message to one person.
        participant = serializers.CharField(
            max_length=100, required=False, allow_blank=True, allow_null=True
        )
        errorCode = serializers.CharField(max_length=20, required=False, default="")
        errorMessage = serializers.CharField(
            max_length=2000, required=False, allow_blank=True, default=""
        )
        clientMessageId = serializers.CharField(
            max_length=100, required=False, allow_blank=True, allow_null=True
        )
        # When WhatsApp reported it (epoch seconds or ms, or ISO 8601); default: now.
        timestamp = EventTimestampField(required=False, allow_null=True)
        id = serializers.CharField(max_length=200, required=False, allow_null=True)

        class Meta:
            ref_name = "MessageAckWebhookInput"

    @extend_schema(
        request=InputSerializer,
        responses={
            200: inline_serializer(
                "MessageAckWebhookAnswer",
                {
                    "success": serializers.BooleanField(),
                    "matched": serializers.BooleanField(),
                    "changed": serializers.BooleanField(required=False),
                    "duplicate": serializers.BooleanField(required=False),
                    "scheduled_message_id": serializers.UUIDField(required=False),
                    "delivered_count": serializers.IntegerField(required=False),
                    "read_count": serializers.IntegerField(required=False),
                },
            ),
            202: OpenApiResponse(description="Send not recorded yet: kept, applied later"),
            404: OpenApiResponse(description="Unknown session"),
        },
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)

    def apply(self, data: dict[str, Any], event: WebhookEvent) -> WebhookResult:
        message_id = data["messageId"]
        unknown = WebhookRejected(404, "Unknown session", {"sessionId": data["sessionId"]})
        ack = data["ack"]
        if ack == "server":
            # WhatsApp has it: "sent" already says so.
            if not WhatsAppSession.objects.filter(session_id=data["sessionId"]).exists():
                raise unknown
            return WebhookResult(
                200, {"success": True, "changed": False}, detail="server ack", reference=message_id
            )
        if ack == "error":
            error = queue.message_error_apply(
                session_key=data["sessionId"],
                message_id=message_id,
                error_code=data.get("errorCode") or "",
                error_message=data.get("errorMessage") or "",
                client_message_id=data.get("clientMessageId") or "",
            )
            if error.kind == "unknown_session":
                raise unknown
            return MessageErrorWebhookApi.answer(error, message_id)
        return receipt_apply(
            session_key=data["sessionId"],
            message_id=message_id,
            participant=data.get("participant"),
            status=ack,
            at=data.get("timestamp"),
        )


def receipt_apply(
    *,
    session_key: str,
    message_id: str,
    participant: str | None,
    status: str,
    at: datetime | None,
) -> WebhookResult:
    """A delivered / read / played receipt kept and counted, and the webhook's answer (our
    protocol and the WAHA / Evolution receivers): a receipt of a send not recorded yet keeps its
    event pending (reference = the message id) and answers 202; recording the send counts it."""
    outcome = queue.receipt_record(
        session_key=session_key,
        message_id=message_id,
        participant=participant,
        status=status,
        at=at,
    )
    if outcome.kind == "unknown_session":
        raise WebhookRejected(404, "Unknown session", {"sessionId": session_key})
    if outcome.kind == "pending":
        return WebhookResult(
            202,
            {"success": True, "matched": False},
            outcome=WebhookEvent.Outcome.PENDING,
            detail=outcome.detail,
            reference=message_id,
        )
    return WebhookResult(
        200,
        {
            "success": True,
            "matched": True,
            "changed": outcome.kind == "applied",
            "scheduled_message_id": str(outcome.row_id),
            "delivered_count": outcome.delivered_count,
            "read_count": outcome.read_count,
        },
        detail=outcome.detail,
        reference=message_id,
    )
