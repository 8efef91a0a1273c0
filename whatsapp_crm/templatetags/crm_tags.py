"""Template filters shared by every app: `{% load crm_tags %}`."""

from __future__ import annotations

from datetime import datetime

from django import template

from whatsapp_crm.phones import format_international
from whatsapp_crm.ui import ago as ago_text

register = template.Library()


@register.filter
def ago(value: datetime | None) -> str:
    """ "just now", "5 minutes ago", "3 days, 4 hours ago"; "" for no time
    (`{{ value|ago|default:"never" }}` where the page should say so)."""
    return ago_text(value)


@register.filter
def phone_display(digits: str | None) -> str:
    """ "4915123456789" → "+49 151 23456789"."""
    return format_international(digits) if digits else ""
