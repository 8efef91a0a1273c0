from __future__ import annotations

import socket

from celery import shared_task

from whatsapp_crm import retention
from whatsapp_crm.models import TaskRun


@shared_task(name="whatsapp_crm.tasks.core_ping")
def core_ping(task_run_id: str) -> None:
    """Proves a worker is alive and reaches the database: marks the TaskRun finished."""
    TaskRun.objects.filter(id=task_run_id).update(
        state=TaskRun.State.SUCCESS, result={"pong": True, "worker": socket.gethostname()}
    )


@shared_task(name="whatsapp_crm.tasks.records_prune")
def records_prune() -> dict[str, int]:
    """Daily retention pass (beat): see whatsapp_crm/retention.py."""
    result = retention.records_prune()
    return {"webhook_events": result.webhook_events, "task_runs": result.task_runs}
