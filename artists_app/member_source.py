"""Where a member sync reads a group's members: WHAPI (`MEMBER_SOURCE=whapi`, the default) or a
connected WhatsApp session of the artist's organization (`MEMBER_SOURCE=gateway`, INTERFACE §9).

With `gateway`, the session is picked on the calling thread (database work), preferring a
connected session whose synced groups include the artist's group, else any connected session of
the organization; the worker threads only call the gateway (`list_participants`). The answer is
turned into the WHAPI shape, so the same replace-or-keep rules apply (member_sync.py): a failure
keeps the cached set as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from artists_app.models import Artist
from gateways_app.clients import gateway_for
from groups_app.models import WhatsAppGroup
from sessions_app.models import WhatsAppSession
from whatsapp_crm.gateway import GatewayError
from whatsapp_crm.whapi import WhapiError, WhapiGroup, WhapiParticipant

NO_SESSION = (
    "No connected WhatsApp session in this organization to read the group's members from "
    "(MEMBER_SOURCE=gateway). Connect a session, or use WHAPI."
)


@dataclass(frozen=True)
class GatewaySource:
    """The session a sync reads one artist's group through (None: there is none)."""

    session: WhatsAppSession | None
    group_name: str = ""  # the gateways do not name the group here: ours, or the artist's


def gateway_sources(artists: Iterable[Artist]) -> dict[UUID, GatewaySource]:
    """A connected session per artist (two queries for all artists)."""
    artists = list(artists)
    sessions = list(
        WhatsAppSession.objects.filter(
            organization_id__in={a.organization_id for a in artists},
            status=WhatsAppSession.Status.CONNECTED,
        )
        .select_related("gateway")
        .order_by("-updated_at", "id")
    )
    members = {
        (session_pk, jid): name
        for session_pk, jid, name in WhatsAppGroup.objects.filter(
            session__in=sessions,
            group_jid__in={f"{a.whatsapp_group_id}@g.us" for a in artists},
            is_active=True,
        ).values_list("session_id", "group_jid", "group_name")
    }
    sources = {}
    for artist in artists:
        jid = f"{artist.whatsapp_group_id}@g.us"
        mine = [s for s in sessions if s.organization_id == artist.organization_id]
        in_group = [s for s in mine if (s.id, jid) in members]
        chosen = (in_group or mine or [None])[0]
        name = members.get((chosen.id, jid), "") if chosen is not None else ""
        sources[artist.pk] = GatewaySource(
            session=chosen, group_name=name or artist.whatsapp_group_name
        )
    return sources


def gateway_group_fetch(source: GatewaySource, group_id: str) -> WhapiGroup:
    """The group's members through the session's gateway, as WHAPI would give them. Raises
    WhapiError (the sync's one error type) on any failure. HTTP only, no database."""
    if source.session is None:
        raise WhapiError(NO_SESSION, permanent=True, code="no_session")
    jid = f"{group_id}@g.us"
    try:
        client = gateway_for(source.session)
        try:
            participants = client.list_participants(source.session.session_id, jid)
        finally:
            close = getattr(client.http, "close", None)
            if close is not None:
                close()
    except GatewayError as exc:
        raise WhapiError(
            f"Gateway (session {source.session.session_id}): {exc.message}",
            status_code=exc.status_code,
            permanent=exc.permanent,
            code="timeout" if exc.code == "timeout" else exc.code,
        ) from exc
    return WhapiGroup(
        id=group_id,
        name=source.group_name,
        participants=[
            # A privacy id the gateway resolved counts as its number, like WHAPI's digits.
            WhapiParticipant(id=p.phone or p.id, rank=p.rank)
            for p in participants
        ],
    )
