"""Reads for artists, the member cache and its health. Every query is scoped to an organization."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db.models import Case, Count, F, IntegerField, Max, Min, Q, QuerySet, Value, When
from django.utils import timezone

from artists_app.models import Artist, ArtistWhatsAppGroupMember
from artists_app.services import ACTIVE_RUN_STATES, ACTIVE_RUN_WINDOW, SYNC_TASK_KIND
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.models import Organization, TaskRun
from whatsapp_crm.phones import normalize_phone
from whatsapp_crm.ui import ago

STALE_AFTER = timedelta(hours=24)


@dataclass(frozen=True)
class LookupMatch:
    id: str
    name: str
    whatsapp_group_id: str
    whatsapp_group_name: str
    member_rank: str

    def as_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "name": self.name,
            "whatsapp_group_id": self.whatsapp_group_id,
            "whatsapp_group_name": self.whatsapp_group_name,
            "member_rank": self.member_rank,
        }


@dataclass(frozen=True)
class LookupResult:
    phone: str  # normalized: digits of the international number
    matches: list[LookupMatch]


def artist_lookup_by_phone(*, organization: Organization, phone: str) -> LookupResult:
    """The organization's artists whose cached group has this phone number, in any spelling.

    One indexed query (idx_whatsapp_members_phone, joined to artists); no call to WHAPI.
    Archived artists are not answered (their cached members are kept for when they come back).
    """
    normalized = normalize_phone(phone, region=organization.effective_phone_region)
    if normalized is None:
        raise ApplicationError(
            f"“{(phone or '').strip()[:64]}” is not a phone number. Type it with the country "
            f"code (+49 151 23456789) or as a {organization.effective_phone_region} number "
            "(0151 23456789).",
            details={"phone": phone},
        )
    rows = (
        ArtistWhatsAppGroupMember.objects.filter(
            member_phone=normalized,
            artist__organization_id=organization.pk,
            artist__archived_at=None,
        )
        .order_by("artist__name", "artist_id")
        .values_list(
            "artist_id", "artist__name", "whatsapp_group_id", "whatsapp_group_name", "member_rank"
        )
    )
    return LookupResult(
        phone=normalized,
        matches=[LookupMatch(str(row[0]), *row[1:]) for row in rows],
    )


def artist_list(*, organization: Organization, archived: bool = False) -> QuerySet[Artist]:
    """Artists with their cached member counts (phone members and privacy ids): the active
    ones, or with `archived` the archived ones."""
    return (
        Artist.objects.filter(organization=organization, archived_at__isnull=not archived)
        .annotate(
            member_count=Count("group_members"),
            phoneless_count=Count("group_members", filter=Q(group_members__member_phone=None)),
        )
        .order_by("name", "id")
    )


def _uuid(value: Any) -> UUID | None:
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        return None


def artist_get(*, organization: Organization, artist_id: Any) -> Artist | None:
    pk = _uuid(artist_id)
    if pk is None:
        return None
    return Artist.objects.filter(organization=organization, pk=pk).first()


def artist_members(*, artist: Artist) -> QuerySet[ArtistWhatsAppGroupMember]:
    """The artist's cached members: creator, admins, then members; privacy ids last."""
    return ArtistWhatsAppGroupMember.objects.filter(artist=artist).order_by(
        Case(
            When(member_rank="creator", then=Value(0)),
            When(member_rank="admin", then=Value(1)),
            default=Value(2),
            output_field=IntegerField(),
        ),
        F("member_phone").asc(nulls_last=True),  # privacy ids last on every database
        "member_wa_id",
    )


def artist_archived_count(*, organization: Organization) -> int:
    return Artist.objects.filter(organization=organization, archived_at__isnull=False).count()


def cache_health(*, organization: Organization, now: datetime | None = None) -> dict[str, Any]:
    """The numbers operators used to query by hand, for one organization (3 queries). Archived
    artists are left out: they are not synced and not looked up."""
    now = now or timezone.now()
    members = ArtistWhatsAppGroupMember.objects.filter(
        artist__organization=organization, artist__archived_at=None
    )
    member_stats = members.aggregate(
        total_members=Count("id"),
        phone_members=Count("id", filter=~Q(member_phone=None)),
        artists_with_cache=Count("artist_id", distinct=True),
        newest_sync=Max("last_synced_at"),
        oldest_sync=Min("last_synced_at"),
        failed_member_rows=Count("id", filter=Q(sync_status="failed")),
    )
    with_group = Artist.objects.filter(organization=organization, archived_at=None).exclude(
        whatsapp_group_id=""
    )
    artist_stats = with_group.aggregate(
        artists_with_group=Count("id"),
        failed_syncs=Count("id", filter=Q(member_sync_status=Artist.SyncStatus.FAILED)),
        not_synced_24h=Count(
            "id",
            filter=Q(last_member_sync_at=None) | Q(last_member_sync_at__lt=now - STALE_AFTER),
        ),
    )
    artist_stats["without_members"] = with_group.filter(group_members__isnull=True).count()
    return {**member_stats, **artist_stats, "stale_after_hours": 24}


def sync_run_latest(*, organization: Organization) -> TaskRun | None:
    """The sync run to show: one that is queued or running, else the most recent sync of all
    artists. A finished one-artist run (adding an artist, its "Sync" button) is not shown once
    it is over: its outcome is on the artist's row, and the card is about the full sync."""
    runs = TaskRun.objects.filter(organization=organization, kind=SYNC_TASK_KIND)
    active = (
        runs.filter(state__in=ACTIVE_RUN_STATES, updated_at__gte=timezone.now() - ACTIVE_RUN_WINDOW)
        .order_by("-created_at")
        .first()
    )
    if active is not None:
        return active
    return (
        runs.filter(Q(params__artist_id=None) | Q(params__artist_id__isnull=True))
        .order_by("-created_at")
        .first()
    )


def sync_run_is_one_artist(run: TaskRun | None) -> bool:
    return bool(run is not None and (run.params or {}).get("artist_id"))


def sync_run_get(*, organization: Organization, run_id: Any) -> TaskRun | None:
    pk = _uuid(run_id)
    if pk is None:
        return None
    return TaskRun.objects.filter(organization=organization, kind=SYNC_TASK_KIND, pk=pk).first()


@dataclass(frozen=True)
class SyncRunProgress:
    """What the progress panel shows of a sync run (or of none)."""

    run: TaskRun | None
    active: bool = False  # queued or running and moving: the page keeps polling it
    stalled: bool = False  # queued or running, but no progress for ACTIVE_RUN_WINDOW
    percent: int = 0
    failed: list[dict[str, Any]] = field(default_factory=list)  # the result's failed artists
    scope: str = ""  # "all artists", or the artist's name


def sync_run_progress(*, run: TaskRun | None, now: datetime | None = None) -> SyncRunProgress:
    if run is None:
        return SyncRunProgress(run=None)
    now = now or timezone.now()
    in_progress = run.state in ACTIVE_RUN_STATES
    stalled = in_progress and run.updated_at < now - ACTIVE_RUN_WINDOW
    if run.state == TaskRun.State.SUCCESS and run.total == 0:
        percent = 100
    else:
        percent = round(100 * run.done / run.total) if run.total else 0
    results = (run.result or {}).get("results", [])
    return SyncRunProgress(
        run=run,
        active=in_progress and not stalled,
        stalled=stalled,
        percent=percent,
        failed=[r for r in results if r.get("status") == "failed"],
        scope=_sync_run_scope(run, results),
    )


def _sync_run_scope(run: TaskRun, results: list[dict[str, Any]]) -> str:
    artist_id = (run.params or {}).get("artist_id")
    if not artist_id:
        return "all artists"
    if results:
        return results[0].get("name") or "one artist"
    artist = (
        Artist.objects.filter(organization_id=run.organization_id, pk=_uuid(artist_id))
        .only("name")
        .first()
    )
    return artist.name if artist else "one artist"


def artist_member_live_change(*, artist: Artist) -> str:
    """ "last change 2 minutes ago (live)" when a group-participants webhook changed the artist's
    cached members after its last full sync (artists_app/member_events.py); "" otherwise."""
    changed = artist.live_member_change_at
    return f"last change {ago(changed)} (live)" if changed else ""
