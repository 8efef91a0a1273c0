"""Step 3 of the queue: reap expired claims, and the passes that run claim → send → record.

Rules:
- Only a dead or frozen worker's claim expires (`lease_until` in the past): a live worker's
  heartbeat renews the rows waiting for their call, and a started call ends by its deadline,
  before its call lease does (queue/lease.py).
- The reaper runs with every dispatch (every QUEUE_DISPATCH_INTERVAL_SECONDS), in every
  `process_whatsapp_queue` pass and from its own beat entry, so a dead worker's rows move on
  within one lease plus a few seconds.
- An expired claim that never started its gateway call (`call_started_at` NULL) certainly sent
  nothing: it goes back to `pending`, due at once, without using up a retry.
- One that did start its call may have been sent: it becomes `needs_review` for an operator to
  check WhatsApp, or, when the gateway de-duplicates by clientMessageId
  (GATEWAY_SEND_IDEMPOTENT), is retried with the same id while retries remain.
- Every reaper UPDATE re-checks its WHERE on the locked row, so a worker starting its call or
  recording its answer at the same moment wins or loses cleanly (docs/reliability.md).
- `queue_process_once` is one synchronous pass (reap, then claim → send until nothing is due);
  `queue_drain` keeps a worker on a backlog for a bounded time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from campaigns_app.models import NotificationCampaignGroup, ScheduledWhatsAppMessage
from campaigns_app.queue.claim import queue_claim
from campaigns_app.queue.send import SendSummary, queue_send_claimed
from campaigns_app.services import campaign_group_mirror

MessageStatus = ScheduledWhatsAppMessage.Status


@dataclass
class ReapResult:
    returned: int = 0  # claims that never called the gateway, back to pending
    needs_review: int = 0  # claims that died during the call
    retried: int = 0  # … retried with the same clientMessageId (idempotent gateway)


def queue_reap(*, now: datetime | None = None) -> ReapResult:
    """Return or review the claims whose lease ended (see the module's rules)."""
    now = now or timezone.now()
    result = ReapResult()
    expired = ScheduledWhatsAppMessage.objects.filter(
        status=MessageStatus.SENDING, lease_until__lt=now
    )
    # Each UPDATE re-checks its WHERE on the locked row, so a worker that starts its call or
    # records an answer at the same moment wins or loses cleanly (docs/reliability.md).
    result.returned = expired.filter(call_started_at__isnull=True).update(
        status=MessageStatus.PENDING,
        next_attempt_at=now,
        lease_until=None,
        error_message="The worker holding this message stopped before calling the gateway; "
        "queued again.",
        updated_at=now,
    )
    started = expired.filter(call_started_at__isnull=False)
    if settings.GATEWAY_SEND_IDEMPOTENT:
        result.retried = started.filter(retry_count__lt=settings.QUEUE_MAX_RETRIES).update(
            status=MessageStatus.PENDING,
            retry_count=F("retry_count") + 1,
            next_attempt_at=now,
            lease_until=None,
            error_message="The worker stopped during the gateway call; retrying with the same "
            "clientMessageId (the gateway de-duplicates).",
            updated_at=now,
        )
    reviewed_ids = list(started.values_list("id", flat=True))
    if reviewed_ids:
        with transaction.atomic():
            rows = list(
                ScheduledWhatsAppMessage.objects.select_for_update(of=("self",))
                .filter(id__in=reviewed_ids, status=MessageStatus.SENDING, lease_until__lt=now)
                .exclude(call_started_at=None)
                .select_related("campaign_group")
                .order_by("id")
            )
            error = (
                "The worker stopped during the gateway call, so the message may have been sent. "
                "Check WhatsApp, then mark it sent or failed."
            )
            ScheduledWhatsAppMessage.objects.filter(id__in=[r.id for r in rows]).update(
                status=MessageStatus.NEEDS_REVIEW,
                lease_until=None,
                error_message=error,
                updated_at=now,
            )
            for row in rows:
                if row.campaign_group_id:
                    campaign_group_mirror(
                        row=row,
                        status=NotificationCampaignGroup.Status.PENDING,
                        error_message="Needs review: the worker stopped during the gateway call.",
                        now=now,
                    )
            result.needs_review = len(rows)
    return result


def queue_process_once(
    *,
    limit: int | None = None,
    max_batches: int = 1000,
    now: datetime | None = None,
    reap: bool = True,
) -> SendSummary:
    """One synchronous pass: reap, then claim → send → record until nothing is due."""
    summary = SendSummary()
    if reap:
        queue_reap(now=now)
    for _ in range(max_batches):
        claim = queue_claim(limit=limit, now=now)
        if not claim:
            break
        summary.merge(queue_send_claimed(token=claim.token, row_ids=claim.row_ids))
    return summary


def queue_drain(*, budget_seconds: float = 30.0, limit: int | None = None) -> SendSummary:
    """Keep claiming and sending full batches (a backlog) for up to `budget_seconds`."""
    limit = limit or settings.QUEUE_BATCH_SIZE
    summary = SendSummary()
    deadline = time.monotonic() + budget_seconds
    while time.monotonic() < deadline:
        claim = queue_claim(limit=limit)
        if claim:
            summary.merge(queue_send_claimed(token=claim.token, row_ids=claim.row_ids))
        if len(claim.row_ids) < limit:
            break
    return summary
