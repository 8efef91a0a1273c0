"""Delete cached WhatsApp group members not synced for N days (default 7).

On PostgreSQL the same rule is `SELECT cleanup_stale_whatsapp_cache();` (docs/artists.md).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from artists_app import services
from whatsapp_crm.errors import ApplicationError


class Command(BaseCommand):
    help = "Delete cached WhatsApp group members that were not synced for --days days (default 7)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--days", type=int, default=7, help="Age in days (default 7).")

    def handle(self, *args, days: int, **options) -> None:
        try:
            deleted = services.group_members_cleanup_stale(days=days)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            self.style.SUCCESS(f"Deleted {deleted} cached members not synced for {days} days.")
        )
