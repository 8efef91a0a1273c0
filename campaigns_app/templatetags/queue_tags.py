"""Queue facts other apps' templates show: `{% load queue_tags %}{% session_outage session as
outage %}` on the session card (sessions_app), whichever view rendered the card."""

from __future__ import annotations

from typing import Any

from django import template

from campaigns_app import selectors

register = template.Library()


@register.simple_tag
def session_outage(session: Any) -> dict[str, Any] | None:
    """The session's gateway outage (selectors.session_outage), or None while it answers."""
    if session is None or getattr(session, "pk", None) is None:
        return None
    return selectors.session_outage(session=session)
