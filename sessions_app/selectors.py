"""Reads for WhatsApp sessions, always scoped to one organization (except the gateway's lookup)."""

from __future__ import annotations

import hashlib
import json
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


def session_holding(*, organization_id: object, phone: str | None) -> WhatsAppSession | None:
    """The organization's session that holds this number now, if any."""
    if not phone:
        return None
    return WhatsAppSession.objects.filter(
        organization_id=organization_id, phone_number=phone
    ).first()


def session_get_by_gateway_id(*, session_id: str) -> WhatsAppSession | None:
    """The session the gateway means (its ids are unique across organizations)."""
    return WhatsAppSession.objects.filter(session_id=session_id).first()


def session_lock_by_gateway_id(*, session_id: str) -> WhatsAppSession | None:
    """The same, its row locked (FOR UPDATE) until the transaction ends: a status event that
    moves no phone number reads and locks its session in one query (services' `locked=True`).
    """
    return WhatsAppSession.objects.select_for_update().filter(session_id=session_id).first()


def session_connected_ids() -> list:
    return list(
        WhatsAppSession.objects.filter(status=Status.CONNECTED)
        .order_by("created_at")
        .values_list("pk", flat=True)
    )


def session_down_list(*, organization: Organization) -> list[WhatsAppSession]:
    """Sessions holding a number that cannot send now: disconnected (Reconnect needed), dropped to
    "connecting", or waiting for the QR scan of a reconnect. A brand-new session waiting for its
    first scan holds no number yet and is not down."""
    return list(
        session_list(organization=organization)
        .exclude(status=Status.CONNECTED)
        .filter(phone_number__isnull=False)
        .order_by("created_at")
    )


def fingerprint(*parts: object) -> str:
    """A short version tag of what a polled partial shows: equal tags mean nothing changed,
    so the poll answers 204 with no body."""
    # JSON, not repr: a status read from the database ("connected") and one just assigned
    # (Status.CONNECTED) must give the same tag.
    text = json.dumps(parts, default=str, sort_keys=True)
    digest = hashlib.blake2s(text.encode(), digest_size=8)
    return digest.hexdigest()
