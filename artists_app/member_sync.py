"""The member sync: fetch artists' groups from WHAPI and replace each artist's cached members.

(With MEMBER_SOURCE=gateway the groups come from a connected session instead: member_source.py.)

Every artist's group is fetched concurrently (threads do HTTP only, never touch the database, and
no transaction is open while they wait); the calling thread replaces each artist's cached set in
one short transaction as its answer arrives. A reader sees the complete old set or the complete
new set; a failed fetch leaves the old set as it was. Recording a run on its `TaskRun` is
`services.group_members_sync_run`'s job; this module knows nothing of runs.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from artists_app.member_source import gateway_group_fetch, gateway_sources
from artists_app.models import Artist, ArtistWhatsAppGroupMember
from whatsapp_crm.phones import normalize_whatsapp_id
from whatsapp_crm.whapi import WhapiClient, WhapiError, WhapiGroup

logger = logging.getLogger(__name__)

RANK_ORDER = {"creator": 0, "admin": 1, "member": 2}

# Back-off for WHAPI: 429 waits Retry-After (or exponential) and pauses every worker of the run;
# timeouts, connection errors and 5xx are retried a little; other 4xx are permanent.
RATE_LIMIT_RETRIES = 6
TRANSIENT_RETRIES = 2
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 30.0
_TRANSIENT_CODES = {"timeout", "unreachable", "server_error"}

_sleep = time.sleep  # the one place the sync waits

ProgressCallback = Callable[[int, int, dict[str, Any]], None]


def group_members_sync(
    *,
    artists: list[Artist],
    on_progress: ProgressCallback | None = None,
    concurrency: int | None = None,
) -> dict[str, Any]:
    """Fetch each artist's group (bounded concurrency) and replace its cached members.

    Returns {"total_artists", "success_count", "fail_count", "results": [...]} in the order of
    `artists`. One artist's failure never stops the others.
    """
    concurrency = concurrency or settings.WHAPI_CONCURRENCY
    results: dict[UUID, dict[str, Any]] = {}
    fetched = _fetch_groups(artists, concurrency=concurrency)
    for done, (artist, outcome) in enumerate(fetched, start=1):
        item = {
            "artist_id": str(artist.pk),
            "name": artist.name,
            "status": "success",
            "members": 0,
            "error": None,
        }
        if isinstance(outcome, WhapiGroup):
            try:
                item["members"] = artist_members_replace(
                    artist_id=artist.pk,
                    group_id=artist.whatsapp_group_id,
                    group=outcome,
                )
            except _GroupChanged:
                # The group id changed while we fetched; that change queued its own sync.
                item["status"] = "skipped"
                item["error"] = "The group id changed during the sync; a new sync was queued."
            except DatabaseError as exc:
                logger.exception("Saving members of artist %s failed", artist.pk)
                error = f"Could not save the members: {exc}"[:1000]
                item.update(status="failed", error=error)
                item["members"] = artist_members_mark_failed(
                    artist_id=artist.pk, group_id=artist.whatsapp_group_id, error=error
                )
        else:
            item.update(status="failed", error=outcome.message)
            item["members"] = artist_members_mark_failed(
                artist_id=artist.pk, group_id=artist.whatsapp_group_id, error=outcome.message
            )
        results[artist.pk] = item
        if on_progress is not None:
            on_progress(done, len(artists), item)
    ordered = [results[a.pk] for a in artists if a.pk in results]
    return {
        "total_artists": len(artists),
        "success_count": sum(1 for r in ordered if r["status"] == "success"),
        "fail_count": sum(1 for r in ordered if r["status"] == "failed"),
        "results": ordered,
    }


class _GroupChanged(Exception):
    pass


@dataclass(frozen=True)
class MemberRow:
    member_phone: str | None
    member_wa_id: str
    member_rank: str


def group_member_rows(group: WhapiGroup) -> list[MemberRow]:
    """WHAPI participants → rows: phones normalized, duplicates merged (highest rank wins).

    Privacy ids ("…@lid") and ids that are no valid phone number keep member_phone = None.
    """
    by_key: dict[str, MemberRow] = {}
    for participant in group.participants:
        wa_id = participant.id.strip()[:100]
        if not wa_id:
            continue
        phone = normalize_whatsapp_id(wa_id)
        key = f"phone:{phone}" if phone else f"id:{wa_id}"
        row = MemberRow(member_phone=phone, member_wa_id=wa_id, member_rank=participant.rank)
        existing = by_key.get(key)
        if existing is None or RANK_ORDER[row.member_rank] < RANK_ORDER[existing.member_rank]:
            by_key[key] = row
    # Two different keys can still share a wa_id ("4915…" vs "4915…@s.whatsapp.net" differ; an
    # identical id always maps to the same key), so the (artist, member_wa_id) key holds.
    return list(by_key.values())


def artist_members_replace(*, artist_id: UUID, group_id: str, group: WhapiGroup) -> int:
    """Replace the artist's cached members with `group`'s in ONE transaction; returns the count.

    The artist row is locked first, so two syncs of one artist run one after the other.
    """
    rows = group_member_rows(group)
    now = timezone.now()
    with transaction.atomic():
        locked = (
            Artist.objects.select_for_update()
            .filter(pk=artist_id, whatsapp_group_id=group_id)
            .values_list("pk", flat=True)
            .first()
        )
        if locked is None:
            raise _GroupChanged
        ArtistWhatsAppGroupMember.objects.filter(artist_id=artist_id).delete()
        ArtistWhatsAppGroupMember.objects.bulk_create(
            [
                ArtistWhatsAppGroupMember(
                    artist_id=artist_id,
                    whatsapp_group_id=group_id,
                    whatsapp_group_name=group.name,
                    member_phone=row.member_phone,
                    member_wa_id=row.member_wa_id,
                    member_rank=row.member_rank,
                    last_synced_at=now,
                    sync_status=ArtistWhatsAppGroupMember.SyncStatus.SUCCESS,
                    sync_error="",
                )
                for row in rows
            ],
            batch_size=1000,
        )
        Artist.objects.filter(pk=artist_id).update(
            whatsapp_group_name=group.name,
            member_sync_status=Artist.SyncStatus.SUCCESS,
            member_sync_error="",
            last_member_sync_at=now,
            member_sync_attempted_at=now,
            updated_at=now,
        )
    return len(rows)


def artist_members_mark_failed(*, artist_id: UUID, group_id: str, error: str) -> int:
    """Record a failed sync; the cached members keep their phones, ranks, group and sync time.

    Returns how many cached members the artist keeps.
    """
    now = timezone.now()
    with transaction.atomic():
        updated = Artist.objects.filter(pk=artist_id, whatsapp_group_id=group_id).update(
            member_sync_status=Artist.SyncStatus.FAILED,
            member_sync_error=error,
            member_sync_attempted_at=now,
            updated_at=now,
        )
        if not updated:
            return 0
        return ArtistWhatsAppGroupMember.objects.filter(artist_id=artist_id).update(
            sync_status=ArtistWhatsAppGroupMember.SyncStatus.FAILED, sync_error=error
        )


# --- fetching from WHAPI -------------------------------------------------------------------------


class _RateGate:
    """Shared by a run's workers: after a 429 every worker waits, not only the one that got it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = 0.0

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._until = max(self._until, time.monotonic() + seconds)

    def wait(self) -> None:
        while True:
            with self._lock:
                remaining = self._until - time.monotonic()
            if remaining <= 0:
                return
            _sleep(remaining)


def _fetch_groups(
    artists: list[Artist], *, concurrency: int
) -> Iterator[tuple[Artist, WhapiGroup | WhapiError]]:
    """Yield (artist, group or error) as answers arrive. Worker threads only do HTTP."""
    if not artists:
        return
    gate = _RateGate()
    local = threading.local()
    clients: list[WhapiClient] = []
    clients_lock = threading.Lock()

    def client() -> WhapiClient:
        # One client (one requests.Session) per thread: sessions are not thread-safe.
        existing = getattr(local, "client", None)
        if existing is None:
            existing = local.client = WhapiClient()
            with clients_lock:
                clients.append(existing)
        return existing

    # MEMBER_SOURCE=gateway: each group through a connected session (picked here, not in threads).
    sources = gateway_sources(artists) if settings.MEMBER_SOURCE == "gateway" else None

    def work(artist: Artist) -> tuple[Artist, WhapiGroup | WhapiError]:
        try:
            if sources is not None:
                return artist, gateway_group_fetch(sources[artist.pk], artist.whatsapp_group_id)
            return artist, whapi_group_fetch(
                client(), artist.whatsapp_group_id, gate=gate, label=artist.name
            )
        except WhapiError as exc:
            return artist, exc

    workers = max(1, min(concurrency, len(artists)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="whapi")
    futures = [pool.submit(work, artist) for artist in artists]
    try:
        for future in as_completed(futures):
            yield future.result()
    finally:
        for future in futures:
            future.cancel()
        pool.shutdown(wait=True)
        for http_client in clients:
            http_client.http.close()


def whapi_group_fetch(
    client: WhapiClient, group_id: str, *, gate: _RateGate | None = None, label: str = ""
) -> WhapiGroup:
    """One group from WHAPI, waiting out 429s (Retry-After, else exponential) and retrying
    temporary failures a few times. Raises the last WhapiError when it gives up."""
    gate = gate or _RateGate()
    attempt = 0
    while True:
        gate.wait()
        try:
            return client.get_group(group_id)
        except WhapiError as exc:
            transient = not exc.permanent and exc.code in _TRANSIENT_CODES
            limit = RATE_LIMIT_RETRIES if exc.rate_limited else TRANSIENT_RETRIES
            if not (exc.rate_limited or transient) or attempt >= limit:
                if exc.rate_limited:
                    exc.message = f"{exc.message} Gave up after {attempt + 1} attempts."
                raise
            if exc.rate_limited and exc.retry_after is not None:
                delay = exc.retry_after
            else:
                delay = BACKOFF_BASE_SECONDS * 2**attempt * (1 + random.random() / 10)
            delay = min(delay, BACKOFF_MAX_SECONDS)
            logger.info(
                "WHAPI %s for group %s (%s); retrying in %.2f s",
                exc.code,
                group_id,
                label,
                delay,
            )
            if exc.rate_limited:
                gate.pause(delay)
            else:
                _sleep(delay)
            attempt += 1
