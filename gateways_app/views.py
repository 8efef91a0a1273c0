"""The gateways settings page (/settings/gateways/): list, add, check, remove (admins, owners)."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from gateways_app import selectors, services
from gateways_app.clients import receiver_path, receiver_url
from gateways_app.forms import GatewayForm
from gateways_app.models import WhatsAppGateway
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.htmx import HtmxHttpRequest
from whatsapp_crm.roles import Role, role_required


def _receiver(request: HtmxHttpRequest, kind: str, gateway: WhatsAppGateway | None) -> str | None:
    path = receiver_path(kind, gateway)
    if path is None:
        return None
    return receiver_url(kind, gateway) or request.build_absolute_uri(path)


def _context(request: HtmxHttpRequest, form: GatewayForm, **extra: Any) -> dict[str, Any]:
    rows = [
        {"gateway": gateway, "webhook_url": _receiver(request, gateway.kind, gateway)}
        for gateway in selectors.gateway_list(organization=request.organization)
    ]
    kind = settings.GATEWAY_BACKEND
    default = {
        "kind": dict(WhatsAppGateway.Kind.choices).get(kind, kind),
        "base_url": settings.GATEWAY_URL,
        "webhook_url": _receiver(request, kind, None),
    }
    return {
        "rows": rows,
        "default": default,
        "form": form,
        "public_base_url": settings.PUBLIC_BASE_URL,
        **extra,
    }


@require_http_methods(["GET", "POST"])
@role_required(Role.ADMIN)
def gateways_page(request: HtmxHttpRequest) -> HttpResponse:
    form = GatewayForm(request.POST or None)
    if request.method == "GET":
        return render(request, "gateways_app/page.html", _context(request, form))
    if form.is_valid():
        try:
            gateway = services.gateway_create(
                organization=request.organization, **form.cleaned_data
            )
        except ApplicationError as exc:
            for field, errors in exc.details.items():
                for error in errors if isinstance(errors, list) else [errors]:
                    form.add_error(field if field in form.fields else None, str(error))
            if not exc.details:
                form.add_error(None, exc.message)
        else:
            created = {
                "gateway": gateway,
                "webhook_secret": gateway.webhook_secret,
                "webhook_url": _receiver(request, gateway.kind, gateway),
            }
            response = render(
                request,
                "gateways_app/page.html",
                _context(request, GatewayForm(), created=created),
            )
            response["Cache-Control"] = "no-store"  # the secret is shown once
            return response
    return render(request, "gateways_app/page.html", _context(request, form), status=400)


def _check_answer(
    request: HtmxHttpRequest, result: services.CheckResult, target: str
) -> HttpResponse:
    if not request.htmx:
        (messages.success if result.ok else messages.error)(request, result.message)
        return redirect("gateways:page")
    return render(request, "gateways_app/_gateway_check.html", {"result": result, "target": target})


@require_POST
@role_required(Role.ADMIN)
def gateway_check(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    gateway = selectors.gateway_get(organization=request.organization, pk=pk)
    return _check_answer(request, services.gateway_check(gateway=gateway), str(gateway.pk))


@require_POST
@role_required(Role.ADMIN)
def default_gateway_check(request: HtmxHttpRequest) -> HttpResponse:
    return _check_answer(request, services.gateway_check(gateway=None), "default")


@require_POST
@role_required(Role.ADMIN)
def gateway_remove(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    gateway = selectors.gateway_get(organization=request.organization, pk=pk)
    name = gateway.name
    try:
        services.gateway_delete(gateway=gateway)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Gateway {name!r} was removed.")
    return redirect("gateways:page")
