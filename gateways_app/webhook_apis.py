"""Receivers of WAHA's and Evolution API's webhooks (INTERFACE §7).

`POST /api/webhooks/waha/` and `/api/webhooks/evolution/` serve the default gateway (when
GATEWAY_BACKEND is that kind): `X-Api-Key` must be WEBHOOK_API_KEY, and WAHA's `X-Webhook-Hmac`
must sign the body when WEBHOOK_HMAC_SECRET is set. `…/<gateway id>/` serves a gateway row:
`X-Api-Key` must be the row's webhook secret, and for WAHA `X-Webhook-Hmac` must sign the body
with it (the CRM registers both when it creates a session, PUBLIC_BASE_URL set). An unknown
gateway id is a 404, with at most 1 KB of the body kept.

Built on `WebhookView`: the same inbox (`webhook_events`, source "waha" / "evolution"), the same
de-duplication (WAHA's envelope `id`; Evolution sends none: a hash of the body), the same answers
and never a 5xx. What an event means is decided in receivers.py; it is applied through the same
services as our own protocol's webhooks. A session is looked up only among the sessions of the
gateway the request authenticated for.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from artists_app.apis import participants_apply
from campaigns_app import queue
from campaigns_app.apis import receipt_apply
from gateways_app import receivers, selectors
from gateways_app.models import WhatsAppGateway
from sessions_app.apis import EventTimestampField, status_apply
from sessions_app.models import WhatsAppSession
from whatsapp_crm.models import WebhookEvent
from whatsapp_crm.text import db_safe_bytes, db_safe_json, db_safe_text
from whatsapp_crm.webhooks import (
    MAX_UNAUTHENTICATED_BODY,
    WebhookRejected,
    WebhookResult,
    WebhookView,
    webhook_check,
)

logger = logging.getLogger(__name__)

Kind = WhatsAppGateway.Kind

WEBHOOK_RESPONSES = {
    200: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description='Applied, `"duplicate": true` (a replay), or `"ignored": true` (not used)',
    ),
    202: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="A message error or receipt whose send is not recorded yet: kept",
    ),
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="An event the CRM cannot read"),
    401: OpenApiResponse(OpenApiTypes.OBJECT, description="Bad or missing key or signature"),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description="Unknown gateway or session"),
}


class GatewayWebhookView(WebhookView):
    """Base of the two receivers: the gateway of the request, its auth, the session lookup."""

    kind: ClassVar[str] = ""
    kind_label: ClassVar[str] = ""
    gateway: WhatsAppGateway | None = None

    def post(self, request: Request, *args: Any, gateway_id: uuid.UUID | None = None) -> Response:
        self.gateway = None
        self._session: WhatsAppSession | None = None
        if gateway_id is not None:
            try:
                self.gateway = selectors.gateway_for_receiver(pk=gateway_id, kind=self.kind)
            except DatabaseError:
                logger.warning("gateway lookup for a %s webhook failed", self.kind, exc_info=True)
                return Response(
                    {"success": False, "error": "Busy; retry this event later.", "retry": True},
                    status=409,
                )
            if self.gateway is None:
                return self._unknown_gateway(
                    request, f"No {self.kind_label} gateway with id {gateway_id}."
                )
        elif self.kind != settings.GATEWAY_BACKEND:
            return self._unknown_gateway(
                request,
                f"The default gateway is not {self.kind_label} "
                f"(GATEWAY_BACKEND={settings.GATEWAY_BACKEND}): post to the receiver of a "
                "gateway row, /api/webhooks/<kind>/<gateway id>/.",
            )
        return super().post(request, *args)

    def _unknown_gateway(self, request: Request, error: str) -> Response:
        """404; the inbox keeps at most 1 KB of the body (nobody authenticated it)."""
        try:
            raw = request._request.body
        except RequestDataTooBig:
            raw = b""
        try:
            WebhookEvent.objects.create(
                source=self.source,
                event_key=f"sha256:{hashlib.sha256(raw).hexdigest()}",
                raw_body=db_safe_bytes(raw, limit=MAX_UNAUTHENTICATED_BODY),
                outcome=WebhookEvent.Outcome.REJECTED,
                http_status=404,
                detail=error,
            )
        except DatabaseError:  # the answer matters more than the audit row
            logger.warning("could not record a %s webhook for no gateway", self.kind)
        return Response({"success": False, "error": error}, status=404)

    # --- WebhookView hooks ---------------------------------------------------------------------
    def uses_hmac(self) -> bool:
        return False

    def authenticate(self, request: Request, raw_body: bytes) -> str | None:
        if self.gateway is None:
            api_key = settings.WEBHOOK_API_KEY
            hmac_secret = settings.WEBHOOK_HMAC_SECRET if self.uses_hmac() else None
        else:
            api_key = self.gateway.webhook_secret  # "" when unreadable: nothing matches it
            hmac_secret = self.gateway.webhook_secret if self.uses_hmac() else None
            if not api_key:
                return "This gateway's webhook secret cannot be read; add the gateway again."
        return webhook_check(
            headers=request.headers, raw_body=raw_body, api_key=api_key, hmac_secret=hmac_secret
        )

    def session_name(self, payload: dict[str, Any]) -> str:
        """The gateway's name for the session (WAHA `session`, Evolution `instance`)."""
        raise NotImplementedError

    def session_key(self, payload: dict[str, Any]) -> str:
        name = self.session_name(payload)
        if not isinstance(name, str) or not name.strip():
            return ""
        self._session = selectors.session_for_event(
            gateway=self.gateway,
            kind=self.kind,
            name=db_safe_text(name.strip()),
            metadata=payload.get("metadata"),
        )
        return self._session.session_id if self._session else db_safe_text(name.strip())[:200]

    # --- applying ------------------------------------------------------------------------------
    def report(self, data: dict[str, Any]) -> receivers.Report:
        raise NotImplementedError

    def apply(self, data: dict[str, Any], event: WebhookEvent) -> WebhookResult:
        try:
            report = self.report(data)
        except receivers.BadEvent as exc:
            raise WebhookRejected(400, str(exc), {"event": data.get("event")})
        if isinstance(report, receivers.Ignored):
            return WebhookResult(
                200,
                {"success": True, "ignored": True, "reason": report.reason},
                detail=report.reason,
            )
        session = self._session
        if session is None:
            raise WebhookRejected(
                404,
                "Unknown session",
                {"session": self.session_name(data), "gateway": self._gateway_label()},
            )
        if isinstance(report, receivers.StatusReport):
            return self._apply_status(session, report)
        if isinstance(report, receivers.ReceiptReport):
            return self._apply_receipt(session, report)
        if isinstance(report, receivers.ParticipantsReport):
            return self._apply_participants(session, report)
        return self._apply_message_error(session, report, event)

    def _gateway_label(self) -> str:
        return str(self.gateway.pk) if self.gateway is not None else "default"

    def _apply_status(
        self, session: WhatsAppSession, report: receivers.StatusReport
    ) -> WebhookResult:
        return status_apply(
            session,
            status=report.status,
            phone_number=report.phone_number,
            error=report.error,
            reported_at=report.reported_at,
        )

    def _apply_receipt(
        self, session: WhatsAppSession, report: receivers.ReceiptReport
    ) -> WebhookResult:
        return receipt_apply(
            session_key=session.session_id,
            message_id=report.message_id,
            participant=report.participant,
            status=report.status,
            at=report.at,
        )

    def _apply_participants(
        self, session: WhatsAppSession, report: receivers.ParticipantsReport
    ) -> WebhookResult:
        return participants_apply(
            session,
            group_jid=report.group_jid,
            action=report.action,
            participants=report.participants,
        )

    def _apply_message_error(
        self, session: WhatsAppSession, report: receivers.MessageErrorReport, event: WebhookEvent
    ) -> WebhookResult:
        outcome = queue.message_error_apply(
            session_key=session.session_id,
            message_id=report.message_id,
            error_code=report.error_code,
            error_message=report.error_message,
        )
        if outcome.kind == "pending":
            kept = _keep_message_error(session=session, report=report, event=event)
            return WebhookResult(
                202,
                {"success": True, "matched": False},
                detail=f"send not recorded yet; kept as message_error event #{kept.pk}",
                reference=report.message_id,
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
            reference=report.message_id,
        )


def _keep_message_error(
    *, session: WhatsAppSession, report: receivers.MessageErrorReport, event: WebhookEvent
) -> WebhookEvent:
    """Keep an error about a send not recorded yet exactly as our protocol's message-error
    webhook keeps one (source `message_error`, pending, reference = messageId, its payload
    shape), so that recording the send applies it (campaigns_app/queue/errors.py)."""
    return WebhookEvent.objects.create(
        source=queue.MESSAGE_ERROR_SOURCE,
        event_key=f"{event.source}:{event.event_key}"[:200],
        session_id=session.session_id,
        reference=report.message_id,
        payload=db_safe_json(
            {
                "event": "message_error",
                "sessionId": session.session_id,
                "messageId": report.message_id,
                "errorCode": report.error_code,
                "errorMessage": report.error_message,
                "groupJid": report.group_jid,
                "via": f"{event.source} event {event.event_key}",
            }
        ),
        outcome=WebhookEvent.Outcome.PENDING,
        detail=f"from {event.source} event {event.event_key}; applied when the send is recorded",
    )


class WahaWebhookApi(GatewayWebhookView):
    """`POST /api/webhooks/waha/[<gateway id>/]`: WAHA's events (session.status, message.ack,
    message.ack.group, group.v2.participants; others answered `"ignored": true`)."""

    source = "waha"
    kind = Kind.WAHA
    kind_label = "WAHA"

    class InputSerializer(serializers.Serializer):
        id = serializers.CharField(max_length=200, required=False, allow_null=True)
        timestamp = EventTimestampField(required=False, allow_null=True)
        event = serializers.CharField(max_length=64)
        session = serializers.CharField(max_length=100)
        payload = serializers.JSONField(required=False, allow_null=True)
        me = serializers.JSONField(required=False, allow_null=True)
        metadata = serializers.JSONField(required=False, allow_null=True)
        engine = serializers.CharField(max_length=20, required=False, allow_null=True)

        class Meta:
            ref_name = "WahaWebhookInput"

    def uses_hmac(self) -> bool:
        return True

    def session_name(self, payload: dict[str, Any]) -> str:
        value = payload.get("session")
        return value if isinstance(value, str) else ""

    def report(self, data: dict[str, Any]) -> receivers.Report:
        return receivers.waha_report(data)

    @extend_schema(
        request=InputSerializer, responses=WEBHOOK_RESPONSES, operation_id="webhooks_waha"
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class WahaGatewayWebhookApi(WahaWebhookApi):
    @extend_schema(
        request=WahaWebhookApi.InputSerializer,
        responses=WEBHOOK_RESPONSES,
        operation_id="webhooks_waha_gateway",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class EvolutionWebhookApi(GatewayWebhookView):
    """`POST /api/webhooks/evolution/[<gateway id>/]`: Evolution API's events
    (connection.update, messages.update, group-participants.update; others answered
    `"ignored": true`)."""

    source = "evolution"
    kind = Kind.EVOLUTION
    kind_label = "Evolution API"

    class InputSerializer(serializers.Serializer):
        event = serializers.CharField(max_length=64)
        instance = serializers.CharField(max_length=100)
        data = serializers.JSONField(required=False, allow_null=True)
        date_time = serializers.CharField(
            max_length=64, required=False, allow_null=True, allow_blank=True
        )
        sender = serializers.CharField(
            max_length=100, required=False, allow_null=True, allow_blank=True
        )

        class Meta:
            ref_name = "EvolutionWebhookInput"

    def session_name(self, payload: dict[str, Any]) -> str:
        value = payload.get("instance")
        return value if isinstance(value, str) else ""

    def report(self, data: dict[str, Any]) -> receivers.Report:
        return receivers.evolution_report(data)

    @extend_schema(
        request=InputSerializer, responses=WEBHOOK_RESPONSES, operation_id="webhooks_evolution"
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class EvolutionGatewayWebhookApi(EvolutionWebhookApi):
    @extend_schema(
        request=EvolutionWebhookApi.InputSerializer,
        responses=WEBHOOK_RESPONSES,
        operation_id="webhooks_evolution_gateway",
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)
