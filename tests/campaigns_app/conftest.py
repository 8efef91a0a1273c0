"""Fixtures for the queue and campaign tests: scripted /send answers (on the root
`mocked_gateway`), group rows, queue rows."""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import responses
from django.conf import settings
from django.db import connections
from django.utils import timezone

from campaigns_app import services
from campaigns_app.models import ScheduledWhatsAppMessage
from groups_app.models import WhatsAppGroup

_seq = itertools.count(1)


@pytest.fixture(autouse=True)
def queue_settings(settings):
    """Defaults for queue tests: no rate limit, real back-off, not idempotent."""
    settings.QUEUE_SESSION_RATE_PER_MINUTE = 0
    settings.QUEUE_RETRY_BASE_SECONDS = 30
    settings.QUEUE_MAX_RETRIES = 5
    settings.QUEUE_BATCH_SIZE = 50
    settings.QUEUE_LEASE_SECONDS = 120
    settings.GATEWAY_SEND_IDEMPOTENT = False
    settings.GATEWAY_TIMEOUT_SECONDS = 3
    return settings


def group_create(*, organization, session, **fields: Any) -> WhatsAppGroup:
    n = next(_seq)
    fields.setdefault("group_jid", f"1203634{n:011d}@g.us")
    fields.setdefault("group_name", f"Group {n:03d}")
    fields.setdefault("participant_count", 10 + n)
    fields.setdefault("synced_at", timezone.now())
    return WhatsAppGroup.objects.create(organization=organization, session=session, **fields)


@pytest.fixture
def groups(organization, gateway_session) -> list[WhatsAppGroup]:
    return [
        group_create(organization=organization, session=gateway_session, group_name=f"Fans {i}")
        for i in range(5)
    ]


@pytest.fixture
def community_parent(organization, gateway_session) -> WhatsAppGroup:
    return group_create(
        organization=organization,
        session=gateway_session,
        group_name="Nova Lights Community",
        is_community=True,
    )


def message_create(*, session, recipient_jid: str | None = None, **kwargs: Any):
    return services.scheduled_message_create(
        organization=session.organization,
        session=session,
        recipient_jid=recipient_jid or f"49151{next(_seq):07d}@s.whatsapp.net",
        message=kwargs.pop("message", "Hello fans"),
        **kwargs,
    )


def later(**delta: Any):
    """A moment far enough ahead that every back-off and lease has run out."""
    return timezone.now() + timedelta(**(delta or {"hours": 2}))


def send_url() -> str:
    return f"{settings.GATEWAY_URL}/send"


class SendRecorder:
    """A `responses` callback for POST /send answering from a script (default: success)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.script: list[tuple[int, Any] | Exception] = []
        self.lock = threading.Lock()

    def __call__(self, request) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        with self.lock:
            self.calls.append(body)
            step = self.script.pop(0) if self.script else None
            n = len(self.calls)
        if isinstance(step, Exception):
            raise step
        if step is None:
            return 200, {}, json.dumps({"messageId": f"wamid.{n:04d}"})
        status, payload = step
        return status, {}, json.dumps(payload)


@pytest.fixture
def gateway_sends(mocked_gateway) -> SendRecorder:
    recorder = SendRecorder()
    mocked_gateway.add_callback(
        responses.POST, send_url(), callback=recorder, content_type="application/json"
    )
    return recorder


def in_thread(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Run `fn` on its own DB connection, closed afterwards (threads in Postgres tests)."""

    def run() -> Any:
        try:
            return fn()
        finally:
            connections.close_all()

    return run


def status_of(row: ScheduledWhatsAppMessage) -> str:
    row.refresh_from_db()
    return row.status
