from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.utils import timezone
from django.utils.timesince import timesince

from artists_app.phones import format_international

register = template.Library()


@register.filter
def phone_display(digits: str | None) -> str:
    """ "4915123456789" → "+49 151 23456789"."""
    return format_international(digits) if digits else ""


@register.filter
def ago(value: datetime | None) -> str:
    """ "just now", "5 minutes ago", "2 days, 3 hours ago"; "never" for no time."""
    if not value:
        return "never"
    if timezone.now() - value < timedelta(minutes=1):
        return "just now"
    return f"{timesince(value)} ago"
