from __future__ import annotations

import logging

from celery import shared_task

from sessions_app.selectors import session_connected_ids
from sessions_app.services import session_verify_many

logger = logging.getLogger(__name__)


@shared_task(name="sessions_app.tasks.sessions_verify_connected", ignore_result=True)
def sessions_verify_connected() -> dict[str, int]:
    """Beat, every 5 minutes: re-verify every session stored as connected, so a session that
    dropped at the gateway is marked so even when nobody has the sessions page open."""
    counts = session_verify_many(session_ids=session_connected_ids())
    logger.info("sessions verified: %s", counts)
    return counts
