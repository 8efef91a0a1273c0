"""Writes of the queue and campaigns (callers use `services.<name>`).

- `messages`: what staff do with one queue row (create, cancel, send now, retry now, restore,
  resolve).
- `campaigns`: campaign create, recount, cancel, retry failed groups, and the mirror of a queue
  row onto its group row (the queue calls it when it records an answer).
- `common`: the immediate dispatch, the session check, putting a row back in the queue.
"""

from __future__ import annotations

from campaigns_app.services.campaigns import (
    CampaignCancel,
    campaign_cancel,
    campaign_create,
    campaign_group_mirror,
    campaign_group_requeued,
    campaign_recount,
    campaign_retry_failed,
    campaign_status_of,
)
from campaigns_app.services.messages import (
    scheduled_message_cancel,
    scheduled_message_create,
    scheduled_message_resolve,
    scheduled_message_restore,
    scheduled_message_retry_now,
    scheduled_message_send_now,
)
from whatsapp_crm.errors import ApplicationError

__all__ = [
    "ApplicationError",
    "CampaignCancel",
    "campaign_cancel",
    "campaign_create",
    "campaign_group_mirror",
    "campaign_group_requeued",
    "campaign_recount",
    "campaign_retry_failed",
    "campaign_status_of",
    "scheduled_message_cancel",
    "scheduled_message_create",
    "scheduled_message_resolve",
    "scheduled_message_restore",
    "scheduled_message_retry_now",
    "scheduled_message_send_now",
]
