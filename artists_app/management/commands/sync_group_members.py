"""Sync the cached WhatsApp group members of every artist (or one) from WHAPI, with progress."""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from artists_app import services
from artists_app.models import Artist
from whatsapp_crm.models import Organization, TaskRun

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Fetch the members of every artist's WhatsApp group from WHAPI and replace the cache. "
        "Exits with status 1 when an artist's sync failed (its previous members are kept)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--artist", help="Sync only this artist (its id).")

    def handle(self, *args, artist: str | None = None, **options) -> None:
        runs = self._create_runs(artist)
        total = sum(run.total for run in runs)
        self.stdout.write(f"Syncing the group members of {total} artist(s) …")
        started = time.monotonic()
        self._done, self._total, self._last_step = 0, total, -1
        self._tty = self.stdout.isatty()
        results: list[dict[str, Any]] = []
        for run in runs:
            result = services.group_members_sync_run(task_run_id=run.pk, on_progress=self._progress)
            results.extend(result["results"])
        if self._tty:
            self.stdout.write("")
        self._summary(results, time.monotonic() - started)

    def _create_runs(self, artist_id: str | None) -> list[TaskRun]:
        if artist_id:
            try:
                artist_pk = uuid.UUID(artist_id)
            except ValueError:
                raise CommandError(f"{artist_id!r} is not an artist id (a UUID).") from None
            artist = Artist.objects.filter(pk=artist_pk).select_related("organization").first()
            if artist is None:
                raise CommandError(f"No artist with id {artist_id}.")
            if not artist.whatsapp_group_id:
                raise CommandError(f"{artist.name} has no WhatsApp group id.")
            return [
                services.group_members_sync_record(
                    organization=artist.organization, artist=artist, trigger="command"
                )
            ]
        with_group = Artist.objects.exclude(whatsapp_group_id="").values("organization_id")
        return [
            services.group_members_sync_record(organization=organization, trigger="command")
            for organization in Organization.objects.filter(pk__in=with_group)
        ]

    def _progress(self, done: int, total: int, item: dict[str, Any]) -> None:
        self._done += 1
        filled = BAR_WIDTH * self._done // max(self._total, 1)
        bar = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self._done}/{self._total}"
        if self._tty:
            self.stdout.write(f"\r{bar}", ending="")
            self.stdout.flush()
        elif filled != self._last_step or self._done == self._total:
            # Not a terminal (logs, cron): a new line each time the bar grows.
            self._last_step = filled
            self.stdout.write(bar)

    def _summary(self, results: list[dict[str, Any]], seconds: float) -> None:
        ok = [r for r in results if r["status"] == "success"]
        failed = [r for r in results if r["status"] == "failed"]
        skipped = [r for r in results if r["status"] == "skipped"]
        members = sum(r["members"] for r in ok)
        self.stdout.write(
            f"Synced {len(ok)} of {len(results)} artist(s): {members} members cached "
            f"in {seconds:.1f} s."
        )
        for r in skipped:
            self.stdout.write(f"  skipped {r['name']}: {r['error']}")
        for r in failed:
            self.stdout.write(
                self.style.ERROR(f"  FAILED {r['name']}: {r['error']}")
                + f" ({r['members']} cached members kept)"
            )
        if failed:
            raise CommandError(f"{len(failed)} artist(s) could not be synced; see above.")
        self.stdout.write(self.style.SUCCESS("All artists synced."))
