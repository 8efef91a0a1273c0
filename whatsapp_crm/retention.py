"""Retention (INTERFACE.md §10): the webhook inbox and task runs are pruned after N days.

Queue rows and campaigns are history and are never pruned. Pruning the inbox shortens the replay
window: an event replayed after its inbox row was deleted (`RETENTION_WEBHOOK_EVENTS_DAYS`, 30
by default) is applied again (docs/operations.md says what that means per event kind).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone

from whatsapp_crm.models import TaskRun, WebhookEvent

# Rows deleted per statement: keeps each transaction (and its locks) short on a large inbox.
DELETE_BATCH = 5000


@dataclass(frozen=True)
class PruneResult:
    webhook_events: int
    task_runs: int
    webhook_events_before: datetime
    task_runs_before: datetime
    dry_run: bool


def records_prune(*, now: datetime | None = None, dry_run: bool = False) -> PruneResult:
    """Delete webhook events received, and task runs last updated, before their retention."""
    now = now or timezone.now()
    events_before = now - timedelta(days=settings.RETENTION_WEBHOOK_EVENTS_DAYS)
    runs_before = now - timedelta(days=settings.RETENTION_TASK_RUNS_DAYS)
    old_events = WebhookEvent.objects.filter(received_at__lt=events_before)
    old_runs = TaskRun.objects.filter(updated_at__lt=runs_before)
    if dry_run:
        events, runs = old_events.count(), old_runs.count()
    else:
        events, runs = _delete_in_batches(old_events), _delete_in_batches(old_runs)
    return PruneResult(
        webhook_events=events,
        task_runs=runs,
        webhook_events_before=events_before,
        task_runs_before=runs_before,
        dry_run=dry_run,
    )


def _delete_in_batches(queryset: QuerySet[Model]) -> int:
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(queryset.values_list("pk", flat=True)[:DELETE_BATCH])
            if not ids:
                return deleted
            count, _ = queryset.model.objects.filter(pk__in=ids).delete()
        deleted += count
