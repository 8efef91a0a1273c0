"""Celery entry points for groups: thin, take ids, call the service."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from groups_app.services import group_sync
from sessions_app.models import WhatsAppSession


@shared_task(name="groups_app.tasks.group_sync_task", soft_time_limit=120, time_limit=150)
def group_sync_task(session_pk: str) -> dict[str, Any]:
    """Sync one session's groups. Failures raise (GatewayError / GroupSyncDatabaseError), so the
    task is recorded as failed; a sync is cheap to run again by hand or on the next schedule."""
    session = WhatsAppSession.objects.get(pk=session_pk)
    return group_sync(session=session).as_dict()
