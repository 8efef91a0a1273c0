"""The yardstick of bench_webhooks: a bare DRF APIView (no authentication, no database).

Routed at /bench/bare/ only when the BENCH_BARE_VIEW setting is on (whatsapp_crm/urls.py); the
benchmark turns it on in the gunicorn it starts, never in any other process.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView


class BareApi(APIView):
    authentication_classes: ClassVar[list] = []
    permission_classes: ClassVar[list] = []

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response({"success": True})


class DurableInsertApi(APIView):
    """The floor of any webhook: the bare view plus one durable single-row INSERT of an inbox
    row (one statement in autocommit: its own transaction, one commit), nothing else."""

    authentication_classes: ClassVar[list] = []
    permission_classes: ClassVar[list] = []

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        from django.db import connection

        connection.health_check_done = True  # as the webhooks: no SELECT 1 per request
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO webhook_events (source, event_key, session_id, reference, payload,"
                " raw_body, outcome, detail, http_status, received_at)"
                " VALUES ('bench_floor', gen_random_uuid()::text, '', '', %s, '', 'applied', '',"
                " 200, now())",
                [request.body.decode("utf-8", "replace")],
            )
        return Response({"success": True})
