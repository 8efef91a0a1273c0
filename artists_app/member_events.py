"""Live member cache: group membership changes from the gateway's webhooks (INTERFACE §9).

Rules:
- An event names a group, an action and participants. It changes the cached members of every
  artist of the session's organization whose `whatsapp_group_id` is that group (archived artists
  are skipped: they are not synced either): add → a member row (rank member; an existing row keeps
  its rank), remove → its row deleted, promote → admin (a creator stays creator), demote → member.
  Promote and demote of someone not cached yet add them with that rank.
- A participant is "<digits>", "<digits>@c.us|@s.whatsapp.net" or a privacy id "<id>@lid".
  `member_phone` is the digits of the international number (INTERFACE §3), so a privacy id
  without a number is kept with member_phone NULL and member_wa_id = the id (shown, never
  matched by the lookup), exactly as the full sync keeps WHAPI's privacy ids. When the event
  carries the number of a privacy id (WAHA's `pn`, Evolution's `phoneNumber`), the row gets that
  number: a row kept under the privacy id alone is resolved (it gains its phone), and a row of
  that phone and one of that privacy id are merged into one.
- Touched rows get last_synced_at = now and sync_status success; the artist's
  `members_live_changed_at` = now (the artists page shows "last change … (live)").
- One transaction per event; each artist row is locked first (as the full sync does), so an
  event and a sync of the same artist run one after the other and other artists never wait.
- The lookup reads the member rows, so it sees a change as soon as the event commits.
- The session's own row of the group (groups_app) moves its member count with joins and leaves
  (`group_participants_changed`), so a campaign's "of N members" follows between syncs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from artists_app.models import Artist, ArtistWhatsAppGroupMember
from groups_app.services import group_participants_changed
from sessions_app.models import WhatsAppSession
from whatsapp_crm.phones import is_privacy_id, normalize_whatsapp_id

ACTIONS = ("add", "remove", "promote", "demote")
Rank = ArtistWhatsAppGroupMember.Rank
_RANK_OF = {"add": None, "promote": Rank.ADMIN, "demote": Rank.MEMBER}
_COUNT_DELTA = {"add": 1, "remove": -1, "promote": 0, "demote": 0}


@dataclass(frozen=True)
class Participant:
    """One participant of an event: its id as given, and its phone digits when known."""

    wa_id: str
    phone: str | None

    @classmethod
    def parse(cls, value: Any) -> Participant | None:
        """A string id, or {"id", "phone"|"pn"|"phoneNumber"} (a privacy id and its number)."""
        number: Any = None
        if isinstance(value, dict):
            number = value.get("phone") or value.get("pn") or value.get("phoneNumber")
            value = value.get("id") or value.get("jid")
        if not isinstance(value, str) or not value.strip():
            return None
        wa_id = value.strip()[:100]
        phone = normalize_whatsapp_id(wa_id)
        if phone is None and isinstance(number, str):
            phone = normalize_whatsapp_id(number)
        if phone is not None and not is_privacy_id(wa_id):
            wa_id = phone  # the spelling the full sync stores for a number
        return cls(wa_id=wa_id, phone=phone)


@dataclass(frozen=True)
class MemberEventOutcome:
    artists: int  # artists of the organization with that group (not archived)
    added: int = 0
    removed: int = 0
    updated: int = 0

    @property
    def detail(self) -> str:
        return (
            f"{self.artists} artist(s): {self.added} added, {self.updated} updated, "
            f"{self.removed} removed"
        )


def group_id_of(group_jid: str) -> str:
    """ "1203…@g.us" → "1203…" (artists store the group id without its domain)."""
    return (group_jid or "").strip().removesuffix("@g.us")


def members_apply_participant_event(
    *,
    session: WhatsAppSession,
    group_jid: str,
    action: str,
    participants: Iterable[Any],
    now: datetime | None = None,
) -> MemberEventOutcome:
    """Apply one add / remove / promote / demote event of `group_jid` (with or without "@g.us")
    to the cached members of every matching artist of the session's organization.

    `participants`: ids ("<digits>", "…@c.us", "…@s.whatsapp.net", "…@lid"), or dicts
    {"id", "phone"} when the gateway resolved a privacy id. Unusable entries are skipped.
    Runs in the caller's transaction (or its own).
    """
    if action not in ACTIONS:
        raise ValueError(f"not a participant action: {action!r}")
    parsed: dict[str, Participant] = {}
    for value in participants:
        participant = Participant.parse(value)
        if participant is not None:
            parsed[participant.phone or participant.wa_id] = participant
    group_id = group_id_of(group_jid)
    now = now or timezone.now()
    with transaction.atomic(savepoint=False):
        artists = list(
            Artist.objects.select_for_update()
            .filter(
                organization_id=session.organization_id,
                whatsapp_group_id=group_id,
                archived_at=None,
            )
            .exclude(whatsapp_group_id="")
            .order_by("pk")  # one lock order for every event
            .only("pk", "whatsapp_group_id", "whatsapp_group_name")
        )
        added = removed = updated = 0
        for artist in artists:
            for participant in parsed.values():
                change = _apply_one(artist, participant, action, now)
                added += change == "added"
                removed += change == "removed"
                updated += change == "updated"
        if artists and parsed:
            Artist.objects.filter(pk__in=[a.pk for a in artists]).update(
                members_live_changed_at=now
            )
        group_participants_changed(
            session=session, group_jid=f"{group_id}@g.us", delta=_COUNT_DELTA[action] * len(parsed)
        )
    return MemberEventOutcome(len(artists), added, removed, updated)


def _apply_one(artist: Artist, participant: Participant, action: str, now: datetime) -> str:
    """One participant of one artist: "added", "updated", "removed" or "" (nothing to do)."""
    match = Q(member_wa_id=participant.wa_id)
    if participant.phone:
        match |= Q(member_phone=participant.phone)
    rows = list(
        ArtistWhatsAppGroupMember.objects.filter(match, artist_id=artist.pk).order_by(
            # The row of the number first: it is the one kept when two are merged.
            F("member_phone").asc(nulls_last=True)
        )
    )
    if action == "remove":
        if not rows:
            return ""
        ArtistWhatsAppGroupMember.objects.filter(pk__in=[r.pk for r in rows]).delete()
        return "removed"
    rank = _RANK_OF[action]
    if not rows:
        ArtistWhatsAppGroupMember.objects.create(
            artist_id=artist.pk,
            whatsapp_group_id=artist.whatsapp_group_id,
            whatsapp_group_name=artist.whatsapp_group_name,
            member_phone=participant.phone,
            member_wa_id=participant.wa_id,
            member_rank=rank or Rank.MEMBER,
            last_synced_at=now,
            sync_status=ArtistWhatsAppGroupMember.SyncStatus.SUCCESS,
            sync_error="",
        )
        return "added"
    kept, *duplicates = rows
    if duplicates:  # a privacy-id row and the row of its number: one member
        ArtistWhatsAppGroupMember.objects.filter(pk__in=[r.pk for r in duplicates]).delete()
    fields: dict[str, Any] = {
        "last_synced_at": now,
        "sync_status": ArtistWhatsAppGroupMember.SyncStatus.SUCCESS,
        "sync_error": "",
    }
    if participant.phone and not kept.member_phone:
        fields["member_phone"] = participant.phone  # a privacy id resolved to its number
    if rank == Rank.MEMBER or (rank == Rank.ADMIN and kept.member_rank != Rank.CREATOR):
        fields["member_rank"] = rank
    ArtistWhatsAppGroupMember.objects.filter(pk=kept.pk).update(**fields)
    return "updated"
