"""The send queue: claim → send → record, then reap what a dead worker left behind.

One module per step, each opening with its rules (the reasoning: docs/reliability.md;
operating it: docs/queue.md):
- `claim`  — take due rows (SKIP LOCKED), fence them with a claim token, pace each session.
- `send`   — call the gateway for each claimed row and record the answer (fenced writes).
- `reap`   — return or review expired claims; `queue_process_once` / `queue_drain` passes.
- `lease`  — how long a claim holds its rows; the heartbeat that renews a live worker's claim.
- `outage` — an unreachable gateway pauses its sessions instead of failing their rows.
- `errors` — late message errors (WhatsApp 420 after the gateway accepted a message).
- `receipts` — delivery receipts (delivered / read / played per participant) and their counts.
- `common` — the back-off, the claim lookahead and the pacing rows, shared by the steps.

Scheduled-message actions and campaign writes are in `campaigns_app.services`.
"""

from __future__ import annotations

from campaigns_app.queue.claim import Claim, queue_claim
from campaigns_app.queue.common import claim_lookahead, retry_delay
from campaigns_app.queue.errors import (
    MESSAGE_ACK_SOURCE,
    MESSAGE_ERROR_SOURCE,
    MessageErrorOutcome,
    message_error_apply,
    message_error_text,
)
from campaigns_app.queue.lease import ClaimHeartbeat, call_lease, lease_renew
from campaigns_app.queue.outage import gateway_reached, outage_pause
from campaigns_app.queue.reap import ReapResult, queue_drain, queue_process_once, queue_reap
from campaigns_app.queue.receipts import (
    ACKS,
    ReceiptOutcome,
    receipt_participant,
    receipt_record,
    receipts_apply_kept,
)
from campaigns_app.queue.send import SendSummary, queue_send_claimed, record_failure, record_sent

__all__ = [
    "ACKS",
    "MESSAGE_ACK_SOURCE",
    "MESSAGE_ERROR_SOURCE",
    "Claim",
    "ClaimHeartbeat",
    "MessageErrorOutcome",
    "ReapResult",
    "ReceiptOutcome",
    "SendSummary",
    "call_lease",
    "claim_lookahead",
    "gateway_reached",
    "lease_renew",
    "message_error_apply",
    "message_error_text",
    "outage_pause",
    "queue_claim",
    "queue_drain",
    "queue_process_once",
    "queue_reap",
    "receipt_participant",
    "receipt_record",
    "receipts_apply_kept",
    "queue_send_claimed",
    "record_failure",
    "record_sent",
    "retry_delay",
]
