"""Retention: `prune_records` deletes exactly the webhook events and task runs older than their
retention, and never queue rows or campaigns (INTERFACE.md §10)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from campaigns_app.models import ScheduledWhatsAppMessage
from whatsapp_crm.models import TaskRun, WebhookEvent


def _event(key: str, age_days: float) -> WebhookEvent:
    event = WebhookEvent.objects.create(
        source="status", event_key=key, outcome=WebhookEvent.Outcome.APPLIED
    )
    WebhookEvent.objects.filter(pk=event.pk).update(
        received_at=timezone.now() - timedelta(days=age_days)
    )
    return event


def _run(organization, age_days: float) -> TaskRun:
    run = TaskRun.objects.create(organization=organization, kind="test")
    TaskRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(days=age_days))
    return run


@pytest.fixture
def records(organization, gateway_session):
    old_events = [_event(f"old-{i}", 31 + i) for i in range(3)]
    new_events = [_event("new-1", 29), _event("new-2", 0)]
    old_runs = [_run(organization, 45)]
    new_runs = [_run(organization, 1)]
    message = ScheduledWhatsAppMessage.objects.create(
        organization=organization,
        session=gateway_session,
        recipient_jid="120363000000000001@g.us",
        message="kept",
        scheduled_for=timezone.now() - timedelta(days=400),
    )
    return old_events, new_events, old_runs, new_runs, message


def test_it_deletes_exactly_the_old_rows(records):
    old_events, new_events, old_runs, new_runs, message = records
    out = StringIO()

    call_command("prune_records", stdout=out)

    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {e.pk for e in new_events}
    assert set(TaskRun.objects.values_list("pk", flat=True)) == {r.pk for r in new_runs}
    assert ScheduledWhatsAppMessage.objects.filter(pk=message.pk).exists()
    assert "Deleted 3 webhook event(s)" in out.getvalue()
    assert "1 task run(s)" in out.getvalue()


def test_a_dry_run_counts_and_deletes_nothing(records):
    out = StringIO()

    call_command("prune_records", "--dry-run", stdout=out)

    assert WebhookEvent.objects.count() == 5
    assert TaskRun.objects.count() == 2
    assert "Would delete 3 webhook event(s)" in out.getvalue()


def test_it_follows_the_retention_settings(settings, records):
    settings.RETENTION_WEBHOOK_EVENTS_DAYS = 10

    call_command("prune_records", stdout=StringIO())

    assert WebhookEvent.objects.count() == 1  # only the one received today


def test_beat_runs_it_daily(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["records-prune"]
    assert entry["task"] == "whatsapp_crm.tasks.records_prune"


def test_the_beat_task_prunes(records):
    from whatsapp_crm.tasks import records_prune

    assert records_prune() == {"webhook_events": 3, "task_runs": 1}
