"""Celery entry points: take ids, call a service. Progress and results live in task_runs."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from artists_app import services
from artists_app.models import Artist
from whatsapp_crm.models import Organization, TaskRun

logger = logging.getLogger(__name__)

# A full sync of a large organization may take longer than the default 4-minute task limit.
SYNC_SOFT_TIME_LIMIT = 30 * 60
SYNC_TIME_LIMIT = SYNC_SOFT_TIME_LIMIT + 60


@shared_task(
    name="artists_app.tasks.group_members_sync",
    soft_time_limit=SYNC_SOFT_TIME_LIMIT,
    time_limit=SYNC_TIME_LIMIT,
)
def group_members_sync(task_run_id: str) -> dict[str, Any] | None:
    """Run one recorded sync (a TaskRun created by services.group_members_sync_start)."""
    try:
        result = services.group_members_sync_run(task_run_id=task_run_id)
    except TaskRun.DoesNotExist:
        logger.warning("Member sync run %s no longer exists; nothing to do", task_run_id)
        return None
    return {k: v for k, v in result.items() if k != "results"}


@shared_task(
    name="artists_app.tasks.group_members_sync_all",
    soft_time_limit=SYNC_SOFT_TIME_LIMIT,
    time_limit=SYNC_TIME_LIMIT,
)
def group_members_sync_all() -> dict[str, Any]:
    """Beat, daily at 02:00: sync every organization's artists (one recorded run each)."""
    organization_ids = (
        Artist.objects.exclude(whatsapp_group_id="")
        .values_list("organization_id", flat=True)
        .distinct()
    )
    totals: dict[str, Any] = {
        "organizations": 0,
        "total_artists": 0,
        "success_count": 0,
        "fail_count": 0,
    }
    crashed: list[str] = []
    for organization in Organization.objects.filter(pk__in=list(organization_ids)):
        run = services.group_members_sync_record(organization=organization, trigger="beat")
        try:
            result = services.group_members_sync_run(task_run_id=run.pk)
        except Exception:
            # Recorded on that organization's run (FAILURE); the others still get their sync.
            logger.exception("Daily member sync of organization %s crashed", organization.pk)
            crashed.append(str(organization.pk))
            continue
        totals["organizations"] += 1
        for key in ("total_artists", "success_count", "fail_count"):
            totals[key] += result[key]
    if crashed:
        totals["crashed_organizations"] = crashed
    logger.info("Daily member sync: %s", totals)
    return totals


@shared_task(name="artists_app.tasks.group_members_cleanup_stale")
def group_members_cleanup_stale(days: int = 7) -> int:
    """Beat, daily: delete cached members not synced for `days` days."""
    deleted = services.group_members_cleanup_stale(days=days)
    logger.info("Deleted %d cached group members not synced for %d days", deleted, days)
    return deleted
