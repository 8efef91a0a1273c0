"""Repair sessions stuck by older code: numbers blocked by older sessions, endless "connecting"."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from sessions_app.services import sessions_release_stuck


class Command(BaseCommand):
    help = (
        "Check sessions stuck in 'connecting' (and connected ones without a number) against the "
        "gateway and store what it says; a number held by an older session is moved to the "
        "session the gateway reports connected with it. Prints every change."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Only print what would change.")

    def handle(self, *args, dry_run: bool = False, **options) -> None:
        lines = sessions_release_stuck(dry_run=dry_run)
        for line in lines:
            self.stdout.write(line)
        if not lines:
            self.stdout.write("Nothing to do: no session is stuck.")
        elif dry_run:
            self.stdout.write(self.style.WARNING("Dry run: nothing was changed."))
        else:
            self.stdout.write(self.style.SUCCESS("Done."))
