"""A test-only webhook on the shared WebhookView, to test the inbox apart from any one event."""

from __future__ import annotations

from django.urls import re_path
from rest_framework import serializers

from whatsapp_crm.models import TaskRun
from whatsapp_crm.webhooks import WebhookRejected, WebhookResult, WebhookView


class DemoWebhook(WebhookView):
    source = "demo"

    class InputSerializer(serializers.Serializer):
        event = serializers.ChoiceField(choices=["demo"])
        sessionId = serializers.CharField()
        mode = serializers.ChoiceField(
            choices=["apply", "pending", "reject", "crash"], default="apply"
        )

    def apply(self, data, event):
        if data["mode"] == "reject":
            raise WebhookRejected(404, "Unknown session", {"sessionId": data["sessionId"]})
        if data["mode"] == "crash":
            TaskRun.objects.create(kind="must-roll-back")
            raise RuntimeError("bug")
        TaskRun.objects.create(kind="demo-applied", params={"session": data["sessionId"]})
        if data["mode"] == "pending":
            return WebhookResult(
                202, {"success": True, "matched": False}, outcome="pending", reference="m1"
            )
        return WebhookResult(200, {"success": True}, reference=data["sessionId"])


urlpatterns = [re_path(r"^hook/?$", DemoWebhook.as_view())]
