"""Reads for WhatsApp sessions, always scoped to one organization (except the gateway's lookup)."""

from __future__ import annotations

import uuid

from django.db.models import Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from sessions_app.models import WhatsAppSession
from whatsapp_crm.models import Organization

Status = WhatsAppSession.Status


def session_list(*, organization: Organization) -> QuerySet[WhatsAppSession]:
    """All sessions of the organization, newest first (the session history)."""
    return WhatsAppSession.objects.filter(organization=organization).order_by("-created_at")


def session_current_list(*, organization: Organization) -> QuerySet[WhatsAppSession]:
    """Sessions that matter now: connected or connecting, or disconnected but still holding a
    number (they need a reconnect). Logged-out and superseded sessions are history only."""
    return session_list(organization=organization).filter(
        Q(status__in=[Status.CONNECTED, Status.CONNECTING]) | Q(phone_number__isnull=False)
    )


def session_get(*, organization: Organization, pk: object) -> WhatsAppSession:
    """One session of the organization; another organization's id (or no uuid at all) is a 404."""
    try:
        pk = uuid.UUID(str(pk))
    except ValueError:
        raise Http404("No such session.")
    return get_object_or_404(WhatsAppSession, organization=organization, pk=pk)


def session_get_by_gateway_id(*, session_id: str) -> WhatsAppSession | None:
    """The session the gateway means (its ids are unique across organizations)."""
    return WhatsAppSession.objects.filter(session_id=session_id).first()


def session_connected_ids() -> list:
    return list(
        WhatsAppSession.objects.filter(status=Status.CONNECTED)
        .order_by("created_at")
        .values_list("pk", flat=True)
    )
