from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.http import HttpResponse
from django.test import RequestFactory
from django_htmx.middleware import HtmxMiddleware

from whatsapp_crm.ui import HtmxMessagesMiddleware, toast


def test_it_stacks_several_toasts_on_one_response():
    response = toast(HttpResponse(), "Saved 3 groups")
    toast(response, "Careful", "warning")
    assert json.loads(response.headers["HX-Trigger"]) == {
        "showToast": {
            "toasts": [
                {"message": "Saved 3 groups", "level": "success"},
                {"message": "Careful", "level": "warning"},
            ]
        }
    }


def _run(request):
    def view(req):
        messages.error(req, "Gateway unreachable")
        messages.success(req, "Done")
        return HttpResponse("partial")

    return HtmxMiddleware(HtmxMessagesMiddleware(view))(request)


def _request(**headers):
    request = RequestFactory().get("/", **headers)
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


def test_it_turns_django_messages_into_toasts_on_htmx_requests():
    response = _run(_request(HTTP_HX_REQUEST="true"))
    toasts = json.loads(response.headers["HX-Trigger"])["showToast"]["toasts"]
    assert toasts == [
        {"message": "Gateway unreachable", "level": "error"},
        {"message": "Done", "level": "success"},
    ]


def test_it_leaves_messages_for_the_next_full_page_otherwise():
    request = _request()
    response = _run(request)
    assert "HX-Trigger" not in response.headers
    assert [str(m) for m in messages.get_messages(request)] == ["Gateway unreachable", "Done"]
