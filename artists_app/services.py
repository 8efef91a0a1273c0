"""Writes for artists, their member syncs and the sync runs (`task_runs` rows).

The sync itself (WHAPI fetches, replacing the cached members) is `member_sync.py`; here a sync is
recorded as a `TaskRun`, queued after commit, and run with its progress written to the run.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from kombu.exceptions import KombuError

from artists_app import member_sync
from artists_app.models import Artist, ArtistWhatsAppGroupMember
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.models import Organization, TaskRun

logger = logging.getLogger(__name__)

SYNC_TASK_KIND = "group_members_sync"
# "120363012345678901" (current groups) or "4915112345678-1612345678" (old creator-time ids).
GROUP_ID_PATTERN = re.compile(r"[0-9]{5,30}(?:-[0-9]{5,20})?")
# Input limits shared by the API serializers and the page forms. A group id is typed with or
# without "@g.us" and spaces, so its input may be longer than the stored id.
ARTIST_NAME_MAX_LENGTH = 200  # the column artists.name
GROUP_ID_INPUT_MAX_LENGTH = 120
# A queued or running run without progress for this long is stalled (no worker, worker lost):
# it no longer stands in for a new request, and the page stops polling it.
ACTIVE_RUN_WINDOW = timedelta(minutes=15)
ACTIVE_RUN_STATES = (TaskRun.State.PENDING, TaskRun.State.STARTED)
TASK_RUN_ERROR_MAX_CHARS = 2000


# --- artists -----------------------------------------------------------------------------------


def whatsapp_group_id_normalize(value: str | None) -> str:
    """ "120363…@g.us " → "120363…"; "" stays ""; anything else that is no group id is an error."""
    group_id = (value or "").strip()
    if group_id.lower().endswith("@g.us"):
        group_id = group_id[: -len("@g.us")].strip()
    if group_id and not GROUP_ID_PATTERN.fullmatch(group_id):
        raise ApplicationError(
            f"“{value}” is not a WhatsApp group id. Use the digits of the group id, "
            "e.g. 120363012345678901 (with or without @g.us).",
            details={"whatsapp_group_id": value},
        )
    return group_id


def artist_group_id_refuse_taken(
    *, organization: Organization, group_id: str, exclude: Artist | None = None
) -> None:
    """One group, one artist: refuse a group id another artist of the organization already has
    (archived ones too: unarchiving must not make two). The error's details name that artist."""
    if not group_id:
        return
    others = Artist.objects.filter(organization=organization, whatsapp_group_id=group_id)
    if exclude is not None:
        others = others.exclude(pk=exclude.pk)
    existing = others.order_by("created_at").first()
    if existing is None:
        return
    where = " (archived)" if existing.is_archived else ""
    raise ApplicationError(
        f"The WhatsApp group {group_id} already belongs to {existing.name}{where}. "
        "Open that artist instead of adding the group twice.",
        details={
            "whatsapp_group_id": group_id,
            "existing_artist_id": str(existing.pk),
            "existing_artist_name": existing.name,
            "existing_artist_archived": existing.is_archived,
        },
    )


def _organization_lock(organization: Organization) -> None:
    """Serialize the group id check and the write for one organization (two tabs adding the same
    group at once): the second waits, then sees the first one's artist."""
    Organization.objects.select_for_update().filter(pk=organization.pk).first()


def artist_create(*, organization: Organization, name: str, whatsapp_group_id: str = "") -> Artist:
    """Create an artist; with a group id, its member sync is queued once the row is committed.
    A group id that another artist of the organization has is refused (nothing is written)."""
    name = (name or "").strip()
    if not name:
        raise ApplicationError("The artist needs a name.", details={"name": name})
    group_id = whatsapp_group_id_normalize(whatsapp_group_id)
    with transaction.atomic():
        if group_id:
            _organization_lock(organization)
            artist_group_id_refuse_taken(organization=organization, group_id=group_id)
        artist = Artist.objects.create(
            organization=organization,
            name=name[:ARTIST_NAME_MAX_LENGTH],
            whatsapp_group_id=group_id,
            member_sync_status=Artist.SyncStatus.PENDING if group_id else Artist.SyncStatus.NEVER,
        )
        if group_id:
            group_members_sync_start(organization=organization, artist=artist)
    return artist


def artist_update(
    *, artist: Artist, name: str | None = None, whatsapp_group_id: str | None = None
) -> Artist:
    """Rename and/or change the group. A new group id drops the old group's cached members (they
    are not this artist's members any more) and queues a sync of the new group after commit; a
    group id that another artist has is refused (nothing is changed)."""
    with transaction.atomic():
        artist = Artist.objects.select_for_update().get(pk=artist.pk)
        fields = ["updated_at"]
        if name is not None:
            name = name.strip()
            if not name:
                raise ApplicationError("The artist needs a name.", details={"name": name})
            artist.name = name[:ARTIST_NAME_MAX_LENGTH]
            fields.append("name")
        group_changed = False
        if whatsapp_group_id is not None:
            group_id = whatsapp_group_id_normalize(whatsapp_group_id)
            if group_id != artist.whatsapp_group_id:
                if group_id:
                    _organization_lock(artist.organization)
                    artist_group_id_refuse_taken(
                        organization=artist.organization, group_id=group_id, exclude=artist
                    )
                group_changed = True
                ArtistWhatsAppGroupMember.objects.filter(artist_id=artist.pk).delete()
                artist.whatsapp_group_id = group_id
                artist.whatsapp_group_name = ""
                artist.member_sync_error = ""
                artist.last_member_sync_at = None
                artist.member_sync_status = (
                    Artist.SyncStatus.PENDING if group_id else Artist.SyncStatus.NEVER
                )
                fields += [
                    "whatsapp_group_id",
                    "whatsapp_group_name",
                    "member_sync_error",
                    "last_member_sync_at",
                    "member_sync_status",
                ]
        artist.save(update_fields=fields)
        if group_changed and artist.whatsapp_group_id and not artist.is_archived:
            group_members_sync_start(organization=artist.organization, artist=artist)
    return artist


def artist_archive(*, artist: Artist) -> Artist:
    """Hide the artist from the list, the lookup and the nightly sync. Its cached members stay
    (the stale-cache cleanup skips them) until it is unarchived or deleted."""
    with transaction.atomic():
        artist = Artist.objects.select_for_update().get(pk=artist.pk)
        if artist.archived_at is None:
            artist.archived_at = timezone.now()
            artist.save(update_fields=["archived_at", "updated_at"])
    return artist


def artist_unarchive(*, artist: Artist) -> Artist:
    """Back in the list and the lookup with the members it had; with a group id, a member sync
    is queued after commit (archived artists are not synced, so the cache is likely old)."""
    with transaction.atomic():
        artist = Artist.objects.select_for_update().get(pk=artist.pk)
        if artist.archived_at is None:
            return artist
        artist.archived_at = None
        artist.save(update_fields=["archived_at", "updated_at"])
        if artist.whatsapp_group_id:
            group_members_sync_start(organization=artist.organization, artist=artist)
    return artist


def artist_delete(*, artist: Artist) -> int:
    """Delete the artist and its cached members; returns how many members went with it.

    The row is locked first, so a member sync writing this artist's set finishes before (and a
    later one finds the artist gone and skips it)."""
    with transaction.atomic():
        locked = Artist.objects.select_for_update().filter(pk=artist.pk).first()
        if locked is None:
            return 0
        members, _ = ArtistWhatsAppGroupMember.objects.filter(artist_id=locked.pk).delete()
        locked.delete()
    return members


# --- task runs ---------------------------------------------------------------------------------
# The one place that writes the artists app's `task_runs` rows. Every write sets updated_at
# (update() skips auto_now): it is what tells a live run from a stalled one (ACTIVE_RUN_WINDOW).


def task_run_create(
    *, organization: Organization, kind: str, params: dict[str, Any], total: int = 0
) -> TaskRun:
    """A PENDING run; `total` is what it expects to do (updated when it starts)."""
    return TaskRun.objects.create(
        organization=organization,
        kind=kind,
        state=TaskRun.State.PENDING,
        total=total,
        params=params,
    )


def task_run_start(*, task_run_id: UUID | str) -> TaskRun:
    """Mark the run STARTED, clearing an earlier attempt's progress; returns it (with its
    organization). Raises TaskRun.DoesNotExist for a run that is gone."""
    if not _task_run_update(
        task_run_id, state=TaskRun.State.STARTED, done=0, error="", result=None
    ):
        raise TaskRun.DoesNotExist(f"No task run {task_run_id}.")
    return TaskRun.objects.select_related("organization").get(pk=task_run_id)


def task_run_advance(
    *, task_run_id: UUID | str, done: int | None = None, total: int | None = None
) -> None:
    """Record progress: `done` of `total` (either may be left as it is)."""
    fields: dict[str, Any] = {}
    if done is not None:
        fields["done"] = done
    if total is not None:
        fields["total"] = total
    _task_run_update(task_run_id, **fields)


def task_run_finish(*, task_run_id: UUID | str, result: dict[str, Any], done: int) -> None:
    _task_run_update(task_run_id, state=TaskRun.State.SUCCESS, done=done, result=result)


def task_run_fail(*, task_run_id: UUID | str, error: str) -> None:
    _task_run_update(
        task_run_id, state=TaskRun.State.FAILURE, error=error[:TASK_RUN_ERROR_MAX_CHARS]
    )


def _task_run_update(task_run_id: UUID | str, **fields: Any) -> int:
    return TaskRun.objects.filter(pk=task_run_id).update(**fields, updated_at=timezone.now())


# --- member syncs ------------------------------------------------------------------------------


def _artists_with_group(organization: Organization) -> QuerySet[Artist]:
    """The artists a sync fetches: with a group id, not archived."""
    return Artist.objects.filter(organization=organization, archived_at=None).exclude(
        whatsapp_group_id=""
    )


def group_members_sync_start(
    *, organization: Organization, artist: Artist | None = None
) -> TaskRun:
    """Record a sync run (PENDING) and queue its Celery task once the transaction commits.

    A run with the same scope that has not started yet is returned instead of a second one (it
    reads the artists when it starts); so is a full sync that is already running. A one-artist
    run that already started may have fetched an old group id, so it never stands in for a new one.
    """
    if artist is not None:
        if artist.organization_id != organization.pk:
            raise ApplicationError("Unknown artist.", details={"artist_id": str(artist.pk)})
        if not artist.whatsapp_group_id:
            raise ApplicationError(
                f"{artist.name} has no WhatsApp group id, so there are no members to sync.",
                details={"artist_id": str(artist.pk)},
            )
        if artist.is_archived:
            raise ApplicationError(
                f"{artist.name} is archived, so its members are not synced. Unarchive it first.",
                details={"artist_id": str(artist.pk)},
            )
        total = 1
    else:
        total = _artists_with_group(organization).count()
        if not total:
            raise ApplicationError(
                "No artist has a WhatsApp group id yet. Add one first.", details={}
            )
    params = {"artist_id": str(artist.pk) if artist else None}
    reusable_states = [TaskRun.State.PENDING]
    if artist is None:
        reusable_states.append(TaskRun.State.STARTED)
    with transaction.atomic():
        active = (
            TaskRun.objects.select_for_update()
            .filter(
                organization=organization,
                kind=SYNC_TASK_KIND,
                state__in=reusable_states,
                params=params,
                updated_at__gte=timezone.now() - ACTIVE_RUN_WINDOW,
            )
            .order_by("-created_at")
            .first()
        )
        if active is not None:
            return active
        run = task_run_create(
            organization=organization, kind=SYNC_TASK_KIND, total=total, params=params
        )
        transaction.on_commit(lambda: _enqueue_sync(run.pk))
    return run


def group_members_sync_record(
    *, organization: Organization, trigger: str, artist: Artist | None = None
) -> TaskRun:
    """Record a sync run (PENDING) that the caller runs at once with `group_members_sync_run`
    (beat, the command): nothing is queued and no earlier run stands in for it."""
    total = 1 if artist is not None else _artists_with_group(organization).count()
    params = {"artist_id": str(artist.pk) if artist else None, "trigger": trigger}
    return task_run_create(
        organization=organization, kind=SYNC_TASK_KIND, total=total, params=params
    )


def _enqueue_sync(task_run_id: UUID) -> None:
    from artists_app.tasks import group_members_sync as sync_task

    try:
        sync_task.delay(str(task_run_id))
    except KombuError as exc:
        logger.exception("Could not queue member sync %s", task_run_id)
        task_run_fail(
            task_run_id=task_run_id,
            error=f"Could not queue the sync (is the Celery broker running?): {exc}",
        )


def group_members_sync_run(
    *, task_run_id: UUID | str, on_progress: member_sync.ProgressCallback | None = None
) -> dict[str, Any]:
    """Run a recorded sync: its TaskRun gets state, done/total and the per-artist results."""
    # STARTED before the artists are read: from then on a group id change queues its own run
    # instead of relying on this one (group_members_sync_start reuses PENDING runs only).
    run = task_run_start(task_run_id=task_run_id)
    artists = _artists_with_group(run.organization)
    if run.params.get("artist_id"):
        artists = artists.filter(pk=run.params["artist_id"])
    artists = list(artists.only("id", "name", "whatsapp_group_id", "organization_id"))
    task_run_advance(task_run_id=run.pk, total=len(artists))

    def progress(done: int, total: int, item: dict[str, Any]) -> None:
        task_run_advance(task_run_id=run.pk, done=done)
        if on_progress is not None:
            on_progress(done, total, item)

    try:
        result = member_sync.group_members_sync(artists=artists, on_progress=progress)
    except BaseException as exc:  # recorded on the run, then re-raised
        task_run_fail(task_run_id=run.pk, error=f"{type(exc).__name__}: {exc}")
        raise
    task_run_finish(task_run_id=run.pk, result=result, done=len(artists))
    return result


# --- stale cache -------------------------------------------------------------------------------


def group_members_cleanup_stale(*, days: int = 7) -> int:
    """Delete cached members not synced for `days` days; returns how many.

    Same rule as the Postgres function cleanup_stale_whatsapp_cache(). An artist's members share
    one last_synced_at, so a whole set goes at once, never part of it. Archived artists' members
    are kept: they are not synced while archived, and come back when the artist is unarchived.
    """
    if days < 1:
        raise ApplicationError("Keep at least 1 day of cache.", details={"days": days})
    cutoff = timezone.now() - timedelta(days=days)
    deleted, _ = ArtistWhatsAppGroupMember.objects.filter(
        last_synced_at__lt=cutoff, artist__archived_at=None
    ).delete()
    return deleted
