from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from whatsapp_crm.tenancy import organization_required


@require_GET
@organization_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("sessions:page")


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


def no_organization(request: HttpRequest) -> HttpResponse:
    return render(request, "whatsapp_crm/no_organization.html", status=404)
