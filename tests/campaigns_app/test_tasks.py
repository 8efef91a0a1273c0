"""Celery entry points and `manage.py process_whatsapp_queue`."""

from __future__ import annotations

from contextlib import contextmanager
from io import StringIO

import pytest
from django.core.management import call_command

from campaigns_app import queue, tasks
from campaigns_app.models import ScheduledWhatsAppMessage
from tests.campaigns_app.conftest import later, message_create, status_of
from whatsapp_crm.celery import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)


@contextmanager
def eager_celery():
    """Tasks queued meanwhile run at once, in this process (as a worker would run them)."""
    celery_app.conf.task_always_eager = True
    try:
        yield
    finally:
        celery_app.conf.task_always_eager = False


def test_it_has_the_task_names_beat_uses(settings):
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {tasks.queue_dispatch.name, tasks.queue_reap.name} <= names


def test_it_dispatches_claimed_batches_to_worker_tasks(settings, gateway_session, gateway_sends):
    settings.QUEUE_BATCH_SIZE = 2
    rows = [message_create(session=gateway_session) for _ in range(5)]

    with eager_celery():
        result = tasks.queue_dispatch.apply().get()

    assert result == {"batches": 3, "rows": 5}
    assert [status_of(r) for r in rows] == ["sent"] * 5
    assert len(gateway_sends.calls) == 5


def test_it_leaves_rows_whose_batch_task_got_lost_to_the_reaper(settings, gateway_session):
    row = message_create(session=gateway_session)
    # Dispatch claims and queues to the (in-memory) broker, but no worker ever runs the task.
    assert tasks.queue_dispatch.apply().get() == {"batches": 1, "rows": 1}
    assert status_of(row) == "sending"

    queue.queue_reap(now=later())

    assert status_of(row) == "pending"


def test_it_asks_for_a_dispatch_as_soon_as_a_message_is_queued(gateway_session, gateway_sends):
    with eager_celery():
        row = message_create(session=gateway_session)

    assert status_of(row) == "sent"


def test_it_reaps_from_the_task(gateway_session):
    message_create(session=gateway_session)
    queue.queue_claim()
    assert tasks.queue_reap.apply().get() == {"returned": 0, "needs_review": 0, "retried": 0}


def test_it_processes_the_queue_once_from_the_command(gateway_session, gateway_sends):
    rows = [message_create(session=gateway_session) for _ in range(3)]
    out = StringIO()

    call_command("process_whatsapp_queue", stdout=out)

    assert "Processed 3 messages: 3 sent" in out.getvalue()
    assert [status_of(r) for r in rows] == ["sent"] * 3


def test_it_reports_reaped_claims_from_the_command(gateway_session, gateway_sends):
    row = message_create(session=gateway_session)
    queue.queue_claim()
    ScheduledWhatsAppMessage.objects.filter(id=row.id).update(lease_until=later(hours=-1))
    out = StringIO()

    call_command("process_whatsapp_queue", stdout=out)

    assert "1 queued again" in out.getvalue()
    assert status_of(row) == "sent"
