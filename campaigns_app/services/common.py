"""What the queue-row actions and the campaign writes share: the immediate dispatch, the session
check, and how a finished row is put back in the queue for a deliberate new send."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from django.db import transaction

from campaigns_app.models import ScheduledWhatsAppMessage
from sessions_app.models import WhatsAppSession
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.models import Organization

logger = logging.getLogger(__name__)

MessageStatus = ScheduledWhatsAppMessage.Status


def kick_dispatch() -> None:
    """Ask for a dispatch right after commit instead of waiting for the next beat tick."""
    from campaigns_app import tasks  # tasks import the queue, which imports the services

    def send() -> None:
        try:
            tasks.queue_dispatch.delay()
        except Exception:  # noqa: BLE001 — beat dispatches anyway; the row is already committed
            logger.warning("could not queue an immediate dispatch; beat will pick the row up")

    transaction.on_commit(send)


def session_check(*, organization: Organization, session: WhatsAppSession) -> None:
    if session.organization_id != organization.id:
        raise ApplicationError("Unknown session.", details={"session": str(session.id)})


def requeue_fields(row: ScheduledWhatsAppMessage, *, now: datetime, due: datetime) -> None:
    """A deliberate new send of a finished row, due at `due`: fresh clientMessageId, fresh
    retries (the earlier attempt's id must not de-duplicate the new send away)."""
    row.status = MessageStatus.PENDING
    row.client_message_id = uuid.uuid4()
    row.retry_count = 0
    row.next_attempt_at = due
    row.error_message = ""
    row.vps_error = ""
    row.message_id = ""
    row.sent_at = None
    row.call_started_at = None
    row.lease_until = None
    row.updated_at = now


REQUEUE_FIELDS = [
    "status",
    "client_message_id",
    "retry_count",
    "next_attempt_at",
    "error_message",
    "vps_error",
    "message_id",
    "sent_at",
    "call_started_at",
    "lease_until",
    "updated_at",
]
