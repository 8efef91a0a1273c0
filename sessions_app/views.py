from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from whatsapp_crm.tenancy import organization_required


@require_GET
@organization_required
def sessions_page(request: HttpRequest) -> HttpResponse:
    # Placeholder until the sessions page lands (issue 3).
    return render(request, "sessions_app/page.html", {})
