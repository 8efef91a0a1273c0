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
