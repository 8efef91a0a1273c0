"""/readyz (INTERFACE.md §10): database, broker and beat, with the age of the oldest due row;
and the banner that tells staff when sends are stalled."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns_app.models import ScheduledWhatsAppMessage
from whatsapp_crm.celery import app
from whatsapp_crm.health import BEAT, heartbeat_record


@pytest.fixture
def beat_alive(db):
    heartbeat_record(BEAT)


@pytest.fixture
def broker_down(monkeypatch):
    """A broker URL where nothing listens (port 1 on loopback): what a stopped Redis looks like.
    Celery reads CELERY_BROKER_URL from the environment before its config (CI sets it)."""
    down = "redis://127.0.0.1:1/0"
    before = app.conf.broker_url  # read before the environment says otherwise
    monkeypatch.setenv("CELERY_BROKER_URL", down)
    app.conf.broker_url = down
    _forget_broker_connections()
    try:
        yield
    finally:
        app.conf.broker_url = before
        # Otherwise later tests publish through pooled connections to the stopped broker.
        _forget_broker_connections()


def _forget_broker_connections() -> None:
    """Drop the app's pooled broker connections, as Celery does in a forked worker."""
    app._pool = None
    app.amqp._producer_pool = None


def _due_row(organization, session, waited: timedelta) -> ScheduledWhatsAppMessage:
    moment = timezone.now() - waited
    return ScheduledWhatsAppMessage.objects.create(
        organization=organization,
        session=session,
        recipient_jid="120363000000000001@g.us",
        message="hi",
        scheduled_for=moment,
        next_attempt_at=moment,
    )


def test_it_is_ready_when_everything_answers(client, beat_alive):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "database": "ok",
        "broker": "ok",
        "beat": "ok",
        "oldest_due_seconds": 0,
    }


def test_it_names_beat_when_no_dispatch_ran(client, db):
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["beat"]
    assert "beat" in response.json()["beat"]


def test_it_names_beat_when_the_last_dispatch_is_too_old(client, settings, db):
    settings.QUEUE_DISPATCH_INTERVAL_SECONDS = 5
    heartbeat_record(BEAT, now=timezone.now() - timedelta(seconds=16))

    response = client.get("/readyz")

    assert response.status_code == 503
    assert "no queue dispatch for 16 s" in response.json()["beat"]


def test_it_names_the_broker_when_it_is_down(client, beat_alive, broker_down):
    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["broker"]
    assert response.json()["database"] == "ok"


def test_it_reports_the_oldest_due_row(client, beat_alive, organization, gateway_session):
    _due_row(organization, gateway_session, timedelta(minutes=7))
    _due_row(organization, gateway_session, timedelta(minutes=1))

    body = client.get("/readyz").json()

    assert 419 <= body["oldest_due_seconds"] <= 425


def test_staff_see_a_banner_when_beat_is_down(logged_in_client):
    page = logged_in_client.get("/settings/api-token/").content.decode()

    assert "Sends are stalled" in page
    assert "is the beat process running?" in page


def test_staff_see_a_banner_when_due_rows_wait_too_long(
    logged_in_client, beat_alive, organization, gateway_session
):
    _due_row(organization, gateway_session, timedelta(minutes=9))

    page = logged_in_client.get("/settings/api-token/").content.decode()

    assert "The oldest due message has waited 9 min" in page


def test_no_banner_while_sends_flow(logged_in_client, beat_alive):
    page = logged_in_client.get("/settings/api-token/").content.decode()

    assert "stalled-banner" not in page


def test_each_queue_dispatch_records_the_beat_heartbeat(client, db):
    from campaigns_app.tasks import queue_dispatch

    queue_dispatch()

    assert client.get("/readyz").json()["beat"] == "ok"
