from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from whatsapp_crm.retention import records_prune


class Command(BaseCommand):
    help = (
        "Delete webhook events and task runs older than their retention "
        "(RETENTION_WEBHOOK_EVENTS_DAYS, RETENTION_TASK_RUNS_DAYS). Queue rows and campaigns are kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be deleted; delete nothing."
        )

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        result = records_prune(dry_run=dry_run)
        verb = "Would delete" if dry_run else "Deleted"
        self.stdout.write(
            f"{verb} {result.webhook_events} webhook event(s) received before "
            f"{result.webhook_events_before:%Y-%m-%d %H:%M} UTC and {result.task_runs} task run(s) "
            f"last updated before {result.task_runs_before:%Y-%m-%d %H:%M} UTC."
        )
