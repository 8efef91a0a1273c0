"""Error texts stay short where they travel in headers or API answers (issue: a gateway error
became a 24 KB HX-Trigger header, which proxies reject)."""

from __future__ import annotations

import json

from django.http import HttpResponse

from whatsapp_crm.gateway import GatewayError
from whatsapp_crm.text import short_text
from whatsapp_crm.ui import TOAST_MAX_CHARS, toast


def test_a_toast_is_capped():
    response = toast(HttpResponse(), "x" * 24_000, "error")

    message = json.loads(response.headers["HX-Trigger"])["showToast"]["toasts"][0]["message"]
    assert len(message) == TOAST_MAX_CHARS
    assert message.endswith("…")
    assert len(response.headers["HX-Trigger"]) < 1_000


def test_a_short_toast_is_unchanged():
    response = toast(HttpResponse(), "Saved 3 groups")

    assert "Saved 3 groups" in response.headers["HX-Trigger"]


def test_gateway_error_bodies_shown_to_api_clients_are_trimmed():
    page = "<html>" + "a" * 24_000 + "</html>"
    details = GatewayError("Gateway error 502: internal error", body=page).as_details()
    nested = GatewayError("x", body={"error": "b" * 5_000}).as_details()
    small = GatewayError("x", body={"error": "not connected"}).as_details()

    assert len(details["body"]) <= 300
    assert len(nested["body"]) <= 300
    assert small["body"] == {"error": "not connected"}


def test_short_text_marks_the_cut():
    assert short_text("abcdef", 4) == "abc…"
    assert short_text("abc", 4) == "abc"
