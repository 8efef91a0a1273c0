"""The queue: claiming, sending, recording, back-off, rate limit, fencing and reaping.

Gateway answers come from `responses`; the database is real (Postgres in CI).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from campaigns_app import queue, services
from campaigns_app.models import QueueSessionState, ScheduledWhatsAppMessage
from sessions_app.models import WhatsAppSession
from tests import factories
from tests.campaigns_app.conftest import later, message_create, status_of

NOT_CONNECTED = (503, {"error": "Session not connected"})

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_sends_a_due_message_and_records_the_message_id(gateway_session, gateway_sends):
    row = message_create(session=gateway_session, recipient_jid="120363111@g.us")

    summary = queue.queue_process_once()

    assert summary.sent == 1
    row.refresh_from_db()
    assert (row.status, row.message_id, row.retry_count) == ("sent", "wamid.0001", 0)
    assert row.sent_at is not None and row.call_started_at is not None
    assert gateway_sends.calls == [
        {
            "sessionId": gateway_session.session_id,
            "to": "120363111@g.us",
            "message": "Hello fans",
            "clientMessageId": str(row.client_message_id),
        }
    ]


def test_it_leaves_rows_scheduled_for_later_alone(gateway_session, gateway_sends):
    row = message_create(session=gateway_session, scheduled_for=later(minutes=10))

    assert queue.queue_process_once().total == 0
    assert status_of(row) == "pending"
    assert gateway_sends.calls == []

    queue.queue_process_once(now=later(minutes=11))
    assert status_of(row) == "sent"


def test_it_claims_a_row_once_and_commits_it_as_sending(gateway_session):
    rows = [message_create(session=gateway_session) for _ in range(3)]

    first = queue.queue_claim(limit=2)
    second = queue.queue_claim(limit=2)
    third = queue.queue_claim(limit=2)

    assert len(first.row_ids) == 2 and len(second.row_ids) == 1 and not third
    assert set(first.row_ids) | set(second.row_ids) == {r.id for r in rows}
    claimed = ScheduledWhatsAppMessage.objects.get(id=first.row_ids[0])
    assert (claimed.status, claimed.claimed_by, claimed.attempt) == ("sending", first.token, 1)
    assert claimed.lease_until > timezone.now() and claimed.call_started_at is None


def test_it_backs_off_after_503_and_keeps_the_gateway_answer(gateway_session, gateway_sends):
    gateway_sends.script = [NOT_CONNECTED]
    row = message_create(session=gateway_session)
    before = timezone.now()

    summary = queue.queue_process_once()

    assert summary.retrying == 1
    row.refresh_from_db()
    assert (row.status, row.retry_count) == ("pending", 1)
    assert row.error_message == "Session not connected"
    assert json.loads(row.vps_error) == {"error": "Session not connected"}
    # base 30 s · 2^0 with jitter 0.5–1.0
    assert before + timedelta(seconds=14) < row.next_attempt_at < before + timedelta(seconds=31)
    gateway_session.refresh_from_db()
    assert gateway_session.last_error == "Session not connected"
    assert gateway_session.last_error_at is not None
    # Nothing more happens before the back-off has passed.
    assert queue.queue_process_once().total == 0


def test_it_doubles_the_back_off_with_each_retry(settings):
    settings.QUEUE_RETRY_BASE_SECONDS = 10
    settings.QUEUE_RETRY_MAX_SECONDS = 60
    delays = [queue.retry_delay(n).total_seconds() for n in (1, 2, 3, 4, 5)]
    assert 5 <= delays[0] <= 10
    assert 10 <= delays[1] <= 20
    assert 20 <= delays[2] <= 40
    assert 30 <= delays[3] <= 60 and 30 <= delays[4] <= 60  # capped


def test_it_fails_a_row_after_the_retry_limit(settings, gateway_session, gateway_sends):
    settings.QUEUE_MAX_RETRIES = 2
    gateway_sends.script = [NOT_CONNECTED] * 10
    row = message_create(session=gateway_session)

    for hours in (1, 2, 3, 4):
        queue.queue_process_once(now=later(hours=hours))

    row.refresh_from_db()
    assert row.status == "failed"
    assert len(gateway_sends.calls) == 3  # the first attempt and 2 retries
    assert row.retry_count == 2
    assert row.error_message == "Gave up after 3 attempts: Session not connected"
    assert json.loads(row.vps_error) == {"error": "Session not connected"}
    assert len({c["clientMessageId"] for c in gateway_sends.calls}) == 1


def test_it_fails_at_once_on_a_permanent_error(gateway_session, gateway_sends):
    gateway_sends.script = [(400, {"error": "Invalid recipient"})]
    row = message_create(session=gateway_session)

    queue.queue_process_once()
    queue.queue_process_once(now=later())

    row.refresh_from_db()
    assert (row.status, row.retry_count, len(gateway_sends.calls)) == ("failed", 0, 1)
    assert "Invalid recipient" in row.error_message
    assert json.loads(row.vps_error) == {"error": "Invalid recipient"}


def test_it_keeps_rows_waiting_when_the_gateway_rejects_our_api_key(gateway_session, gateway_sends):
    gateway_sends.script = [(401, {"error": "invalid API key"})]
    row = message_create(session=gateway_session)

    queue.queue_process_once()

    row.refresh_from_db()
    assert (row.status, row.retry_count) == ("pending", 1)
    assert "Check GATEWAY_API_KEY" in row.error_message
    gateway_session.refresh_from_db()
    assert "Check GATEWAY_API_KEY" in gateway_session.last_error


def test_it_puts_an_ambiguous_timeout_up_for_review(gateway_session, gateway_sends):
    gateway_sends.script = [requests.exceptions.ReadTimeout("read timed out")]
    row = message_create(session=gateway_session)

    queue.queue_process_once()
    queue.queue_process_once(now=later())

    row.refresh_from_db()
    assert row.status == "needs_review"
    assert "may have been sent" in row.error_message
    assert len(gateway_sends.calls) == 1


def test_it_puts_a_5xx_answer_to_a_send_up_for_review(gateway_session, gateway_sends):
    gateway_sends.script = [(502, {"error": "upstream broke"})]
    row = message_create(session=gateway_session)

    queue.queue_process_once()

    assert status_of(row) == "needs_review"


def test_it_retries_an_ambiguous_send_with_the_same_id_when_the_gateway_is_idempotent(
    settings, gateway_session, gateway_sends
):
    settings.GATEWAY_SEND_IDEMPOTENT = True
    gateway_sends.script = [requests.exceptions.ReadTimeout("read timed out")]
    row = message_create(session=gateway_session)

    queue.queue_process_once()
    assert status_of(row) == "pending"
    queue.queue_process_once(now=later())

    row.refresh_from_db()
    assert (row.status, row.retry_count, row.message_id) == ("sent", 1, "wamid.0002")
    assert [c["clientMessageId"] for c in gateway_sends.calls] == [str(row.client_message_id)] * 2


def test_it_waits_without_using_a_retry_when_the_gateway_refuses_the_connection(
    gateway_session, gateway_sends
):
    gateway_sends.script = [requests.exceptions.ConnectionError("[Errno 111] Connection refused")]
    row = message_create(session=gateway_session)

    queue.queue_process_once()
    assert status_of(row) == "pending"
    queue.queue_process_once(now=later())

    row.refresh_from_db()
    assert (row.status, row.retry_count) == ("sent", 0)
    assert len(gateway_sends.calls) == 2


def test_it_holds_back_the_other_rows_of_a_session_that_is_not_connected(
    gateway_session, gateway_sends
):
    gateway_sends.script = [NOT_CONNECTED]
    rows = [message_create(session=gateway_session) for _ in range(4)]

    summary = queue.queue_process_once()

    assert (summary.retrying, summary.deferred) == (1, 3)
    assert len(gateway_sends.calls) == 1
    retry_counts = sorted(
        ScheduledWhatsAppMessage.objects.filter(id__in=[r.id for r in rows]).values_list(
            "retry_count", flat=True
        )
    )
    assert retry_counts == [0, 0, 0, 1]
    state = QueueSessionState.objects.get(session=gateway_session)
    assert state.consecutive_failures == 1 and state.paused_until > timezone.now()
    # Paused: nothing of this session is claimed until the pause ends …
    assert queue.queue_process_once().total == 0
    # … then one probe; its success lets the rest go.
    summary = queue.queue_process_once(now=later())
    assert summary.sent == 4
    assert QueueSessionState.objects.get(session=gateway_session).consecutive_failures == 0


def test_it_sends_one_probe_at_a_time_for_a_session_stored_disconnected(
    organization, gateway_sends
):
    session = factories.session_create(
        organization=organization, status=WhatsAppSession.Status.DISCONNECTED
    )
    for _ in range(3):
        message_create(session=session)

    claim = queue.queue_claim()

    assert len(claim.row_ids) == 1


def test_it_does_not_hold_back_other_sessions(organization, gateway_session, gateway_sends):
    other = factories.session_create(organization=organization)
    gateway_sends.script = [NOT_CONNECTED]
    message_create(session=gateway_session)
    healthy = [message_create(session=other) for _ in range(2)]

    queue.queue_process_once()

    assert [status_of(r) for r in healthy] == ["sent", "sent"]


def test_it_does_not_let_a_paused_sessions_backlog_starve_other_sessions(organization):
    # Rate limit off: the claim must still look past a paused session's older rows.
    down = factories.session_create(organization=organization)
    up = factories.session_create(organization=organization)
    backlog = [message_create(session=down) for _ in range(120)]
    QueueSessionState.objects.create(
        session=down, paused_until=later(minutes=5), consecutive_failures=1
    )
    healthy = message_create(session=up)

    claim = queue.queue_claim(limit=50)

    assert claim.row_ids == [healthy.id]
    assert status_of(backlog[0]) == "pending"


def test_it_sends_one_probe_per_troubled_session_and_fills_the_rest_with_healthy_rows(
    organization,
):
    down = factories.session_create(
        organization=organization, status=WhatsAppSession.Status.DISCONNECTED
    )
    up = factories.session_create(organization=organization)
    for _ in range(60):
        message_create(session=down)
    healthy = [message_create(session=up) for _ in range(3)]

    claim = queue.queue_claim(limit=50)

    claimed = ScheduledWhatsAppMessage.objects.filter(id__in=claim.row_ids)
    assert claimed.filter(session=down).count() == 1
    assert set(claimed.filter(session=up).values_list("id", flat=True)) == {h.id for h in healthy}


def test_it_spaces_the_sends_of_one_session_by_the_rate_limit(settings, organization):
    settings.QUEUE_SESSION_RATE_PER_MINUTE = 20  # one every 3 s, jitter lengthens the gap
    settings.QUEUE_DISPATCH_INTERVAL_SECONDS = 5
    session = factories.session_create(organization=organization)
    other = factories.session_create(organization=organization)
    for _ in range(6):
        message_create(session=session)
    message_create(session=other)
    now = timezone.now()

    claim = queue.queue_claim(now=now)

    rows = list(
        ScheduledWhatsAppMessage.objects.filter(id__in=claim.row_ids, session=session).order_by(
            "send_after"
        )
    )
    # Slots at now and now+3…3.75 s fit the 5 s horizon; the third (≥ 6 s) waits.
    assert len(rows) == 2
    assert rows[0].send_after == now
    gap = (rows[1].send_after - rows[0].send_after).total_seconds()
    assert 3.0 <= gap <= 3.75
    assert ScheduledWhatsAppMessage.objects.filter(id__in=claim.row_ids, session=other).count() == 1
    assert not queue.queue_claim(now=now + timedelta(seconds=0.5))
    later_claim = queue.queue_claim(now=now + timedelta(seconds=10))
    assert len(later_claim.row_ids) >= 1


def test_it_does_not_let_a_big_campaign_starve_other_sessions(settings, organization):
    settings.QUEUE_SESSION_RATE_PER_MINUTE = 20
    busy = factories.session_create(organization=organization)
    quiet = factories.session_create(organization=organization)
    for _ in range(300):
        message_create(session=busy)
    lonely = message_create(session=quiet)

    claim = queue.queue_claim()

    assert lonely.id in claim.row_ids
    assert ScheduledWhatsAppMessage.objects.filter(id__in=claim.row_ids, session=busy).count() == 2


def test_it_keeps_a_late_worker_from_overwriting_a_reclaimed_row(gateway_session, gateway_sends):
    row = message_create(session=gateway_session)
    stale = queue.queue_claim()
    # The first worker froze before its call; the lease ran out and another worker took over.
    assert queue.queue_reap(now=later()).returned == 1
    fresh = queue.queue_claim(now=later())
    assert fresh.row_ids == stale.row_ids

    late = queue.queue_send_claimed(token=stale.token, row_ids=stale.row_ids)
    assert late.total == 0 and gateway_sends.calls == []

    queue.queue_send_claimed(token=fresh.token, row_ids=fresh.row_ids)
    row.refresh_from_db()
    assert (row.status, row.attempt, len(gateway_sends.calls)) == ("sent", 2, 1)


def test_it_never_repeats_a_started_call_when_a_batch_is_delivered_twice(
    gateway_session, gateway_sends
):
    message_create(session=gateway_session)
    claim = queue.queue_claim()
    ScheduledWhatsAppMessage.objects.filter(id__in=claim.row_ids).update(
        call_started_at=timezone.now()
    )

    summary = queue.queue_send_claimed(token=claim.token, row_ids=claim.row_ids)

    assert summary.total == 0 and gateway_sends.calls == []


def test_it_reaps_expired_claims_by_whether_the_call_started(gateway_session):
    never_called = message_create(session=gateway_session)
    called = message_create(session=gateway_session)
    queue.queue_claim()
    ScheduledWhatsAppMessage.objects.filter(id=called.id).update(call_started_at=timezone.now())

    assert queue.queue_reap().returned == 0  # leases still valid
    result = queue.queue_reap(now=later())

    assert (result.returned, result.needs_review) == (1, 1)
    assert status_of(never_called) == "pending"
    assert status_of(called) == "needs_review"
    assert "may have been sent" in called.error_message


def test_it_retries_a_reaped_started_call_when_the_gateway_is_idempotent(settings, gateway_session):
    settings.GATEWAY_SEND_IDEMPOTENT = True
    row = message_create(session=gateway_session)
    queue.queue_claim()
    ScheduledWhatsAppMessage.objects.filter(id=row.id).update(call_started_at=timezone.now())

    result = queue.queue_reap(now=later())

    row.refresh_from_db()
    assert (result.retried, row.status, row.retry_count) == (1, "pending", 1)


def test_it_lets_the_late_worker_resolve_a_row_the_reaper_put_up_for_review(
    gateway_session, gateway_sends
):
    row = message_create(session=gateway_session)
    claim = queue.queue_claim()
    claimed = ScheduledWhatsAppMessage.objects.select_related("session", "campaign_group").get(
        id=row.id
    )
    ScheduledWhatsAppMessage.objects.filter(id=row.id).update(call_started_at=timezone.now())
    queue.queue_reap(now=later())
    assert status_of(row) == "needs_review"

    # The frozen worker wakes up with the gateway's answer: it knows more than the reaper.
    assert queue.record_sent(row=claimed, token=claim.token, message_id="wamid.late") == "sent"

    row.refresh_from_db()
    assert (row.status, row.message_id) == ("sent", "wamid.late")


def test_it_keeps_an_operator_decision_over_a_late_worker(gateway_session):
    row = message_create(session=gateway_session)
    claim = queue.queue_claim()
    claimed = ScheduledWhatsAppMessage.objects.select_related("session", "campaign_group").get(
        id=row.id
    )
    ScheduledWhatsAppMessage.objects.filter(id=row.id).update(call_started_at=timezone.now())
    queue.queue_reap(now=later())
    services.scheduled_message_resolve(message=row, sent=False)

    assert queue.record_sent(row=claimed, token=claim.token, message_id="wamid.late") == "lost"
    assert status_of(row) == "failed"


def test_it_cancels_retries_and_resolves_rows(gateway_session, gateway_sends):
    gateway_sends.script = [(400, {"error": "Invalid recipient"})]
    pending = message_create(session=gateway_session, scheduled_for=later())
    failed = message_create(session=gateway_session)
    queue.queue_process_once()
    old_client_id = ScheduledWhatsAppMessage.objects.get(id=failed.id).client_message_id

    services.scheduled_message_cancel(message=pending)
    services.scheduled_message_retry_now(message=failed)

    assert status_of(pending) == "cancelled"
    failed.refresh_from_db()
    assert failed.status == "pending" and failed.client_message_id != old_client_id
    assert failed.retry_count == 0 and failed.error_message == ""
    queue.queue_process_once()
    assert status_of(failed) == "sent"
    with pytest.raises(services.ApplicationError):
        services.scheduled_message_cancel(message=failed)
    with pytest.raises(services.ApplicationError):
        services.scheduled_message_resolve(message=failed, sent=True)


def test_it_moves_a_pending_retry_forward(gateway_session, gateway_sends):
    gateway_sends.script = [NOT_CONNECTED]
    row = message_create(session=gateway_session)
    queue.queue_process_once()
    assert queue.queue_process_once().total == 0

    services.scheduled_message_send_now(message=row)
    queue.queue_process_once()

    assert status_of(row) == "sent"
