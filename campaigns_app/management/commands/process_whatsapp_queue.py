"""`manage.py process_whatsapp_queue`: one pass of the queue, for deployments without beat.

Reaps expired claims, then claims → sends → records until nothing is due. Safe to run from
cron while Celery workers also run: claims use SKIP LOCKED and every write is fenced.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from campaigns_app import queue


class Command(BaseCommand):
    help = "Send the due WhatsApp queue rows once (reap, claim, send, record) and exit."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--limit", type=int, default=None, help="rows per claim (batch)")
        parser.add_argument(
            "--max-batches", type=int, default=1000, help="stop after this many batches"
        )

    def handle(self, *args, **options) -> None:
        reaped = queue.queue_reap()
        if reaped.returned or reaped.needs_review or reaped.retried:
            self.stdout.write(
                f"Reaped expired claims: {reaped.returned} queued again, "
                f"{reaped.needs_review} need review, {reaped.retried} retried."
            )
        summary = queue.queue_process_once(
            limit=options["limit"], max_batches=options["max_batches"], reap=False
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Processed {summary.total} messages: {summary.sent} sent, "
                f"{summary.failed} failed, {summary.retrying} to retry, "
                f"{summary.needs_review} need review, {summary.deferred} deferred, "
                f"{summary.lost} lost their claim."
            )
        )
