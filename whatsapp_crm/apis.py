from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from whatsapp_crm.api import OrganizationAPIView
from whatsapp_crm.models import TaskRun


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
    def get(self, request: Request, task_id: str) -> Response:
        run = get_object_or_404(TaskRun, id=task_id, organization=self.organization)
        return Response(self.OutputSerializer(run).data)
