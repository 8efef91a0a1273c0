"""Data fix: delete stored community parent groups (sends to them fail with error 420)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from groups_app.services import group_purge_community_parents, normalize_group_jid


class Command(BaseCommand):
    help = (
        "Delete stored community parent groups (is_community) and the groups with the JIDs "
        "named by --jid, printing each one. --dry-run only prints."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--jid",
            action="append",
            default=[],
            metavar="JID",
            nargs="+",
            help="also delete the groups with this JID (120363…@g.us or just the digits); "
            "repeatable, several per flag allowed",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="print what would be deleted, delete nothing"
        )

    def handle(self, *args: Any, jid: list[list[str]], dry_run: bool, **options: Any) -> None:
        jids = [value for group in jid for value in group]
        purged = group_purge_community_parents(jids=jids, dry_run=dry_run)
        verb = "would remove" if dry_run else "removed"
        for group in purged:
            self.stdout.write(f"{verb} {group.describe()}")
        found = {g.group_jid for g in purged}
        for value in jids:
            if normalize_group_jid(value) not in found:
                self.stdout.write(self.style.WARNING(f"no stored group with JID {value}"))
        summary = f"{verb.capitalize()} {len(purged)} group{'s' if len(purged) != 1 else ''}"
        if dry_run:
            self.stdout.write(self.style.WARNING(f"{summary} (dry run: nothing deleted)."))
        else:
            self.stdout.write(self.style.SUCCESS(f"{summary}."))
