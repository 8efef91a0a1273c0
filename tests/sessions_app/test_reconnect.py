"""Reconnecting a number that an older session holds: via webhook, via verify, and concurrently.

The concurrent cases need real row locks, so they run on PostgreSQL only (CI sets DATABASE_URL).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from sessions_app import services
from sessions_app.models import WhatsAppSession
from tests import factories

Status = WhatsAppSession.Status
P = "4915123456789"
WEBHOOK_URL = "/api/webhooks/whatsapp/status/"


def _status_event(session_id: str, event_id: str, status: str = "connected", phone: str = P):
    return {
        "event": "session_status",
        "id": event_id,
        "sessionId": session_id,
        "status": status,
        "phoneNumber": phone,
    }


def _assert_number_moved(old: WhatsAppSession, new: WhatsAppSession) -> None:
    old.refresh_from_db()
    new.refresh_from_db()
    assert new.status == Status.CONNECTED
    assert new.phone_number == P
    assert old.phone_number is None
    assert old.status == Status.DISCONNECTED
    assert WhatsAppSession.objects.filter(status=Status.CONNECTING).count() == 0


def test_it_reconnects_a_used_number_via_the_status_webhook(organization, webhook_client):
    old = factories.session_create(organization=organization, phone_number=P)
    new = factories.session_create(organization=organization, status=Status.CONNECTING)

    response = webhook_client.post(
        WEBHOOK_URL, _status_event(new.session_id, "evt_reconnect_1"), format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json() == {"success": True, "session": str(new.id), "status": "connected"}
    _assert_number_moved(old, new)


def test_it_reconnects_a_used_number_via_verify(organization, gateway):
    old = factories.session_create(organization=organization, phone_number=P)
    new = factories.session_create(organization=organization, status=Status.CONNECTING)
    gateway.status(new.session_id, "connected", phone=P)

    result = services.session_verify(session=new)

    assert result.vps_status == "connected"
    _assert_number_moved(old, new)


def test_it_reconnects_a_used_number_via_the_api(organization, gateway, api_client):
    old = factories.session_create(organization=organization, phone_number=P)
    new = factories.session_create(organization=organization, status=Status.CONNECTING)
    gateway.status(new.session_id, "connected", phone=P)

    response = api_client.post(f"/api/sessions/{new.id}/verify/")

    assert response.status_code == 200
    assert response.json()["status"] == "connected"
    _assert_number_moved(old, new)


def _run_at_once(*calls: Callable[[], object]) -> list[BaseException]:
    """Run the calls in threads released together; returns the exceptions they raised."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=10)
            call()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive(), "a thread hung (deadlock?)"
    return errors


@pytest.mark.postgres
@pytest.mark.parametrize("round_", range(5))
def test_it_moves_the_number_once_when_two_sessions_claim_it_at_the_same_time(
    transactional_db, organization, round_
):
    old = factories.session_create(organization=organization, phone_number=P)
    first = factories.session_create(organization=organization, status=Status.CONNECTING)
    second = factories.session_create(organization=organization, status=Status.CONNECTING)

    errors = _run_at_once(
        lambda: services.session_mark_connected(session=first, phone_number=P),
        lambda: services.session_mark_connected(session=second, phone_number=P),
    )

    assert errors == []
    holders = list(WhatsAppSession.objects.filter(phone_number=P))
    assert len(holders) == 1
    assert holders[0].pk in {first.pk, second.pk}
    assert holders[0].status == Status.CONNECTED
    loser = second if holders[0].pk == first.pk else first
    loser.refresh_from_db()
    old.refresh_from_db()
    assert loser.status == Status.DISCONNECTED
    assert loser.last_error == f"Number reconnected in session {holders[0].session_id}"
    assert old.phone_number is None
    assert not WhatsAppSession.objects.filter(status=Status.CONNECTING).exists()


@pytest.mark.postgres
@pytest.mark.parametrize("round_", range(3))
def test_it_survives_the_webhook_and_verify_connecting_the_same_session_at_once(
    transactional_db, organization, webhook_client, gateway, round_
):
    old = factories.session_create(organization=organization, phone_number=P)
    new = factories.session_create(organization=organization, status=Status.CONNECTING)
    gateway.status(new.session_id, "connected", phone=P)
    answers: list[int] = []

    def via_webhook() -> None:
        response = webhook_client.post(
            WEBHOOK_URL, _status_event(new.session_id, f"evt_race_{round_}"), format="json"
        )
        answers.append(response.status_code)

    errors = _run_at_once(via_webhook, lambda: services.session_verify(session=new))

    assert errors == []
    assert answers == [200]
    _assert_number_moved(old, new)


@pytest.mark.postgres
def test_it_serialises_many_concurrent_claims_without_deadlock(transactional_db, organization):
    old = factories.session_create(organization=organization, phone_number=P)
    contenders = [
        factories.session_create(organization=organization, status=Status.CONNECTING)
        for _ in range(6)
    ]
    other_number = [
        factories.session_create(organization=organization, status=Status.CONNECTING)
        for _ in range(2)
    ]

    errors = _run_at_once(
        *[
            (lambda s=s: services.session_mark_connected(session=s, phone_number=P))
            for s in contenders
        ],
        *[
            (
                lambda s=s, n=n: services.session_mark_connected(
                    session=s, phone_number=f"491711234567{n}"
                )
            )
            for n, s in enumerate(other_number)
        ],
    )

    assert errors == []
    assert WhatsAppSession.objects.filter(phone_number=P).count() == 1
    assert WhatsAppSession.objects.filter(phone_number__startswith="4917").count() == 2
    old.refresh_from_db()
    assert old.phone_number is None
