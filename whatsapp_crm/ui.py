"""Shared UI helpers: toasts for htmx responses (HX-Trigger "showToast"), Django messages, `ago`."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.timesince import timesince
from django_htmx.http import trigger_client_event

from whatsapp_crm.text import short_text

Level = Literal["success", "info", "warning", "error"]
TOAST_MAX_CHARS = 300


def toast(response: HttpResponse, message: str, level: Level = "success") -> HttpResponse:
    """Ask the page to show a toast; several calls on one response stack up."""
    existing = response.headers.get("HX-Trigger")
    events = json.loads(existing) if existing and existing.startswith("{") else {}
    toasts = events.get("showToast", {}).get("toasts", [])
    # Capped: a long gateway error must not become a huge HX-Trigger header (proxies refuse those).
    toasts.append({"message": short_text(message, TOAST_MAX_CHARS), "level": level})
    trigger_client_event(response, "showToast", {"toasts": toasts})
    return response


def client_event(response: HttpResponse, name: str, detail: dict | None = None) -> HttpResponse:
    """Fire a camelCase client event (e.g. "groupsChanged") that other parts of the page listen to."""
    return trigger_client_event(response, name, detail or {})


_LEVELS: dict[int, Level] = {
    messages.DEBUG: "info",
    messages.INFO: "info",
    messages.SUCCESS: "success",
    messages.WARNING: "warning",
    messages.ERROR: "error",
}


class HtmxMessagesMiddleware:
    """Django messages added during an htmx request become toasts on that response."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not getattr(request, "htmx", False) or 300 <= response.status_code < 400:
            return response
        if "HX-Redirect" in response.headers or "HX-Refresh" in response.headers:
            return response
        for message in messages.get_messages(request):
            toast(response, str(message), _LEVELS.get(message.level, "info"))
        return response


def ago(moment: datetime | None) -> str:
    """ "just now", "5 minutes ago", "3 days, 4 hours ago"; "" for no time."""
    if moment is None:
        return ""
    if timezone.now() - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment)} ago"
