"""Celery entry points of the queue: thin, take ids, call the queue (docs/queue.md)."""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import transaction

from campaigns_app import queue
from whatsapp_crm.health import BEAT, heartbeat_record


@shared_task(name="campaigns_app.tasks.queue_dispatch", ignore_result=True)
def queue_dispatch() -> dict[str, Any]:
    """Beat, every QUEUE_DISPATCH_INTERVAL_SECONDS: claim due rows, hand each batch to a worker.

    Expired claims are reaped first. The claim is committed before the batch task is queued; if
    that task is lost (broker flushed, worker gone) the reaper returns its rows to pending when
    their lease ends.
    """
    # /readyz and the stalled banner read this: no tick for 3 intervals means beat is down.
    heartbeat_record(BEAT)
    # Reaping here, every few seconds, puts a dead worker's rows back within one short lease
    # (docs/reliability.md: fast recovery); it is one UPDATE on a partial index.
    queue.queue_reap()
    batches = int(getattr(settings, "QUEUE_DISPATCH_BATCHES", 4))
    claims = []
    for _ in range(max(1, batches)):
        claim = queue.queue_claim()
        if not claim:
            break
        claims.append(claim)
        if len(claim.row_ids) < settings.QUEUE_BATCH_SIZE:
            break
    for claim in claims:
        transaction.on_commit(
            partial(queue_send_batch.delay, claim.token, [str(i) for i in claim.row_ids])
        )
    return {"batches": len(claims), "rows": sum(len(c.row_ids) for c in claims)}


@shared_task(name="campaigns_app.tasks.queue_send_batch", ignore_result=True)
def queue_send_batch(token: str, row_ids: list[str]) -> dict[str, int]:
    """Send one claimed batch; while there is a backlog, keep claiming and sending."""
    summary = queue.queue_send_claimed(token=token, row_ids=row_ids)
    if len(row_ids) >= settings.QUEUE_BATCH_SIZE:
        # Bounded so batches queued behind this task still start well within their lease.
        budget = min(30.0, settings.QUEUE_LEASE_SECONDS / 4)
        summary.merge(queue.queue_drain(budget_seconds=budget))
    return {"sent": summary.sent, "failed": summary.failed, "retrying": summary.retrying}


@shared_task(name="campaigns_app.tasks.queue_reap", ignore_result=True)
def queue_reap() -> dict[str, int]:
    result = queue.queue_reap()
    return {
        "returned": result.returned,
        "needs_review": result.needs_review,
        "retried": result.retried,
    }
