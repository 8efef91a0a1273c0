"""Reads for gateway rows, always scoped to one organization (except the receivers' lookups)."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db.models import Count, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from gateways_app.models import WhatsAppGateway
from sessions_app.models import WhatsAppSession
from whatsapp_crm.gateway_waha import CORE_SESSION_NAME, METADATA_SESSION_KEY
from whatsapp_crm.models import Organization

Kind = WhatsAppGateway.Kind


def gateway_list(*, organization: Organization) -> QuerySet[WhatsAppGateway]:
    """The organization's gateways with `session_count` (sessions on it, history included)."""
    return (
        WhatsAppGateway.objects.filter(organization=organization)
        .annotate(session_count=Count("sessions"))
        .order_by("name", "created_at")
    )


def gateway_get(*, organization: Organization, pk: Any) -> WhatsAppGateway:
    """One gateway of the organization; another organization's id (or no uuid) is a 404."""
    try:
        pk = uuid.UUID(str(pk))
    except ValueError:
        raise Http404("No such gateway.")
    return get_object_or_404(WhatsAppGateway, organization=organization, pk=pk)


def gateway_of_organization(*, organization: Organization, pk: Any) -> WhatsAppGateway | None:
    """One gateway of the organization, None for another organization's id or no uuid."""
    try:
        pk = uuid.UUID(str(pk))
    except ValueError:
        return None
    return WhatsAppGateway.objects.filter(organization=organization, pk=pk).first()


def gateway_for_receiver(*, pk: Any, kind: str) -> WhatsAppGateway | None:
    """The gateway row a webhook receiver URL names (any organization: the row's secret is what
    authenticates the request), None when there is none of that kind."""
    return WhatsAppGateway.objects.filter(pk=pk, kind=kind).first()


def session_for_event(
    *, gateway: WhatsAppGateway | None, kind: str, name: str, metadata: Any = None
) -> WhatsAppSession | None:
    """The CRM session a gateway event is about: only sessions of that gateway (its row, or the
    default gateway's) — a gateway can never change another gateway's sessions.

    `name` is WAHA's session / Evolution's instance name, our session id; on a WAHA Core gateway
    (single session) it is `default`, which serves the session named in the event's `metadata`
    (registered at creation) or else the newest session of the gateway.
    """
    sessions = WhatsAppSession.objects.filter(gateway=gateway)
    single = gateway.waha_single_session if gateway is not None else settings.WAHA_SINGLE_SESSION
    if kind == Kind.WAHA and single and name == CORE_SESSION_NAME:
        named = metadata.get(METADATA_SESSION_KEY) if isinstance(metadata, dict) else None
        if isinstance(named, str) and named:
            session = sessions.filter(session_id=named[:100]).first()
            if session is not None:
                return session
        return sessions.order_by("-created_at").first()
    return sessions.filter(session_id=name[:100]).first()
