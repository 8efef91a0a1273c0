from __future__ import annotations

from pathlib import Path

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from django.views.decorators.http import require_GET

FAVICON = Path(__file__).resolve().parent / "static" / "whatsapp_crm" / "favicon.ico"


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers ask for on every page whatever the layout links."""
    response = HttpResponse(FAVICON.read_bytes(), content_type="image/x-icon")
    response["Cache-Control"] = "public, max-age=86400"
    return response


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A URL that matches no route (e.g. a malformed id): under /api/ the JSON error shape of
    INTERFACE.md §6, elsewhere Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"success": False, "error": "Not found.", "details": {}}, status=404)
    return defaults.page_not_found(request, exception)
