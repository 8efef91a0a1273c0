"""The request type of every page view: django-htmx's details and the caller's organization."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails

if TYPE_CHECKING:
    from whatsapp_crm.models import Organization


class HtmxHttpRequest(HttpRequest):
    """`request.htmx` (HtmxMiddleware) and `request.organization` (`@organization_required`)."""

    htmx: HtmxDetails
    organization: Organization
