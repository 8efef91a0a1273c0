"""Reads for WhatsApp groups, always scoped to one organization."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Max, Q, QuerySet

from groups_app.models import WhatsAppGroup
from sessions_app.models import WhatsAppSession
from whatsapp_crm.models import Organization


def group_list(
    *,
    organization: Organization,
    session: WhatsAppSession | None = None,
    active: bool | None = True,
    search: str | None = None,
    sendable_only: bool = False,
) -> QuerySet[WhatsAppGroup]:
    """Groups of the organization, by name.

    active: True/False filters on is_active, None returns both. sendable_only: the groups a
    message can go to — active and not a community parent (those answer error 420).
    """
    qs = WhatsAppGroup.objects.filter(organization=organization)
    if session is not None:
        qs = qs.filter(session=session)
    if active is not None:
        qs = qs.filter(is_active=active)
    if sendable_only:
        qs = qs.filter(is_active=True, is_community=False)
    search = (search or "").strip()
    if search:
        qs = qs.filter(Q(group_name__icontains=search) | Q(group_jid__icontains=search))
    return qs.order_by("group_name", "group_jid")


@dataclass(frozen=True)
class GroupStats:
    active: int
    inactive: int
    community_parents: int  # stored parents still marked active (legacy data; not sendable)
    last_synced_at: datetime | None


def group_stats(*, session: WhatsAppSession) -> GroupStats:
    """Counts for the groups section, in one query."""
    row = WhatsAppGroup.objects.filter(session=session).aggregate(
        active=Count("id", filter=Q(is_active=True)),
        inactive=Count("id", filter=Q(is_active=False)),
        community_parents=Count("id", filter=Q(is_active=True, is_community=True)),
        last_synced_at=Max("synced_at"),
    )
    return GroupStats(**row)
