"""Webhooks from the gateway: authentication, the `webhook_events` inbox and replay detection.

One implementation for every webhook. A concrete webhook is a `WebhookView` subclass with an
`InputSerializer` and an `apply()` that changes rows and says what happened. The inbox row and
the changes are written in one transaction; a unique index on (source, event_key) for kept
events makes a replay — even 20 at once — a harmless `"duplicate": true`.

Answers (INTERFACE.md §5): 200 applied / duplicate, 202 kept but not matched yet, 400 bad input,
401 bad key or signature, 404 unknown session, 409 `"retry": true` when the event could not be
applied now (database trouble, or a bug of ours: a 400 would tell the gateway never to send it
again, silently dropping it). Never 5xx.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from whatsapp_crm.models import WebhookEvent
from whatsapp_crm.text import db_safe_bytes, db_safe_json, db_safe_text

logger = logging.getLogger(__name__)

MAX_STORED_BODY = 20_000
# A request without the right key is kept for the operator, but only its first KB: nobody
# without the key can grow the inbox faster than that (INTERFACE.md §10).
MAX_UNAUTHENTICATED_BODY = 1024
# An event without an `id` is recognised by its body. It is a replay only when it repeats the
# latest event of the same session within this window: connected → disconnected → connected with
# identical bodies is applied three times, a retry of the last one is a duplicate.
BODY_REPLAY_WINDOW_SECONDS = 600
TRANSIENT_RETRIES = 3
# Events are flat objects with a few nested ones. Deeper JSON is refused before anything walks
# it recursively (storing it, validating it), which a few hundred levels would already overflow.
MAX_JSON_DEPTH = 32
NESTED_TOO_DEEPLY = f"JSON nested deeper than {MAX_JSON_DEPTH} levels."


@dataclass
class WebhookResult:
    status: int
    body: dict[str, Any]
    outcome: str = WebhookEvent.Outcome.APPLIED
    detail: str = ""
    reference: str = ""


class _AlreadyKept(Exception):
    """An event's key was kept by another transaction meanwhile: undo this one's changes."""


class WebhookRejected(Exception):
    """Raised by `apply()` to refuse an event (nothing it wrote is kept)."""

    def __init__(self, status: int, error: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.details = details or {}


@dataclass
class _Received:
    source: str
    raw_body: bytes
    payload: Any = None
    event_key: str = ""
    session_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _nests_deeper_than(value: Any, limit: int) -> bool:
    """True when lists and objects in `value` nest more than `limit` levels (walked without
    recursion, so any depth is safe)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def webhook_signature(secret: str, raw_body: bytes) -> str:
    return hmac.new(secret.encode(), raw_body, hashlib.sha512).hexdigest()


def webhook_authenticate(*, headers: Any, raw_body: bytes) -> str | None:
    """None when the request is authentic, else the reason it is not."""
    return webhook_check(
        headers=headers,
        raw_body=raw_body,
        api_key=settings.WEBHOOK_API_KEY,
        hmac_secret=settings.WEBHOOK_HMAC_SECRET,
    )


def webhook_check(
    *, headers: Any, raw_body: bytes, api_key: str, hmac_secret: str | None
) -> str | None:
    """`X-API-Key` must be `api_key`; with `hmac_secret`, `X-Webhook-Hmac` must sign the body."""
    expected_key = api_key
    given_key = headers.get("X-API-Key") or ""
    if not given_key:
        return "Missing X-API-Key header."
    if not hmac.compare_digest(given_key.encode(), expected_key.encode()):
        return "Invalid API key."
    secret = hmac_secret
    if secret:
        given_sig = (headers.get("X-Webhook-Hmac") or "").strip().lower()
        if not given_sig:
            return "Missing X-Webhook-Hmac signature."
        if not hmac.compare_digest(
            given_sig.encode(), webhook_signature(secret, raw_body).encode()
        ):
            return "Invalid X-Webhook-Hmac signature."
    return None


BODY_KEY_PREFIX = "sha256:"


def _event_key(payload: dict[str, Any], raw_body: bytes) -> str:
    event_id = payload.get("id")
    if (
        isinstance(event_id, (str, int))
        and not isinstance(event_id, bool)
        and str(event_id).strip()
    ):
        return f"id:{str(event_id).strip()[:190]}"
    return f"{BODY_KEY_PREFIX}{hashlib.sha256(raw_body).hexdigest()}"


def _record(received: _Received, *, outcome: str, status: int, detail: str = "") -> None:
    """Store a refused event (outside the refused transaction) so operators can see it."""
    body_limit = (
        MAX_UNAUTHENTICATED_BODY
        if outcome == WebhookEvent.Outcome.UNAUTHORIZED
        else MAX_STORED_BODY
    )
    try:
        with transaction.atomic():  # a failure here must not poison an enclosing transaction
            WebhookEvent.objects.create(
                source=received.source,
                event_key=received.event_key
                or f"sha256:{hashlib.sha256(received.raw_body).hexdigest()}",
                session_id=received.session_id[:200],
                payload=db_safe_json(received.payload)
                if isinstance(received.payload, (dict, list))
                else None,
                raw_body=db_safe_bytes(received.raw_body, limit=body_limit),
                outcome=outcome,
                http_status=status,
                detail=db_safe_text(detail[:2000]),
            )
    except Exception:  # the answer to the gateway matters more than the audit row
        logger.exception("could not record refused webhook %s", received.source)


class WebhookView(APIView):
    """Base class. Subclasses set `source`, `InputSerializer` and implement `apply()`."""

    source: ClassVar[str] = ""
    InputSerializer: ClassVar[type[serializers.Serializer]]
    authentication_classes: ClassVar[list] = []
    permission_classes: ClassVar[list] = []

    def apply(self, data: dict[str, Any], event: WebhookEvent) -> WebhookResult:
        raise NotImplementedError

    def authenticate(self, request: Request, raw_body: bytes) -> str | None:
        """None when the request is authentic, else why not. Receivers of other gateways'
        webhooks override it (their own key, or a gateway row's webhook secret)."""
        return webhook_authenticate(headers=request.headers, raw_body=raw_body)

    def session_key(self, payload: dict[str, Any]) -> str:
        """The gateway session an event is about (inbox column, replays without an `id`)."""
        value = payload.get("sessionId")
        return value if isinstance(value, str) else ""

    def on_duplicate(self, existing: WebhookEvent) -> WebhookResult:
        if existing.outcome == WebhookEvent.Outcome.PENDING:
            return WebhookResult(202, {"success": True, "matched": False, "duplicate": True})
        return WebhookResult(200, {"success": True, "duplicate": True})

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        received = _Received(source=self.source, raw_body=b"")
        try:
            raw_body: bytes = request._request.body  # raw bytes: the HMAC is over exactly these
        except RequestDataTooBig:  # over DATA_UPLOAD_MAX_MEMORY_SIZE; no event is that large
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            return self._refuse(received, 400, "The body is too large.", {"max_bytes": limit})
        received.raw_body = raw_body

        reason = self.authenticate(request, raw_body)
        if reason:
            _record(received, outcome=WebhookEvent.Outcome.UNAUTHORIZED, status=401, detail=reason)
            return Response({"success": False, "error": reason}, status=401)

        try:
            # NaN/Infinity are not JSON (RFC 8259) and could not be stored either.
            payload = json.loads(raw_body.decode("utf-8"), parse_constant=_reject_constant)
        except (UnicodeDecodeError, ValueError) as exc:
            return self._refuse(received, 400, "Malformed JSON body.", {"body": str(exc)[:200]})
        except RecursionError:  # 50,000 "[" are deeper than the parser's stack goes
            return self._refuse(received, 400, "Malformed JSON body.", {"body": NESTED_TOO_DEEPLY})
        if _nests_deeper_than(payload, MAX_JSON_DEPTH):
            return self._refuse(received, 400, "Malformed JSON body.", {"body": NESTED_TOO_DEEPLY})
        received.payload = payload
        if not isinstance(payload, dict):
            return self._refuse(received, 400, "The body must be a JSON object.", {})
        received.event_key = db_safe_text(_event_key(payload, raw_body))
        received.session_id = db_safe_text(self.session_key(payload))

        serializer = self.InputSerializer(data=payload)
        if not serializer.is_valid():
            return self._refuse(received, 400, "Invalid webhook payload.", serializer.errors)

        try:
            result = self._apply_with_retries(received, serializer.validated_data)
        except WebhookRejected as exc:
            return self._refuse(received, exc.status, exc.error, exc.details)
        except OperationalError as exc:
            # Transient database trouble (lock timeout, deadlock victim): ask for a retry, not 5xx.
            logger.warning("webhook %s could not be applied now: %s", self.source, exc)
            _record(received, outcome=WebhookEvent.Outcome.ERROR, status=409, detail=str(exc))
            return Response(
                {"success": False, "error": "Busy; retry this event later.", "retry": True},
                status=409,
            )
        except Exception as exc:
            # A bug of ours, not the gateway's: ask for a retry (the fixed code will apply it),
            # and keep the error in the inbox for the operator.
            logger.exception("webhook %s failed", self.source)
            _record(received, outcome=WebhookEvent.Outcome.ERROR, status=409, detail=repr(exc))
            return Response(
                {
                    "success": False,
                    "error": "The event could not be applied; retry it later.",
                    "retry": True,
                    "details": {"exception": type(exc).__name__},
                },
                status=409,
            )
        return Response(result.body, status=result.status)

    def _refuse(self, received: _Received, status: int, error: str, details: Any) -> Response:
        _record(
            received,
            outcome=WebhookEvent.Outcome.REJECTED,
            status=status,
            detail=f"{error} {json.dumps(details, default=str)[:1500]}",
        )
        return Response({"success": False, "error": error, "details": details}, status=status)

    def _apply_with_retries(self, received: _Received, data: dict[str, Any]) -> WebhookResult:
        """A deadlock victim or lock timeout is retried here before the gateway hears of it.

        No health check (`CONN_HEALTH_CHECKS`' `SELECT 1`, a round trip per request) before the
        first statement: a connection that broke while idle (Postgres restarted) fails that
        statement, the failed rollback closes it (`atomic`), and the retry reconnects. Events
        come in floods; pages keep the check."""
        connection.health_check_done = True
        for attempt in range(TRANSIENT_RETRIES):
            try:
                return self._apply_once(received, data)
            except OperationalError:
                if attempt == TRANSIENT_RETRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def _apply_once(self, received: _Received, data: dict[str, Any]) -> WebhookResult:
        """Apply, then keep the inbox row with its outcome: one INSERT, written once. The
        unique index on kept (source, event_key) decides replays: a concurrent copy's insert
        waits for the first transaction and then finds its key kept, so the copy's changes
        are rolled back and it is answered as a replay."""
        try:
            with transaction.atomic():
                if received.event_key.startswith(BODY_KEY_PREFIX):
                    return self._apply_body_keyed(received, data)
                event = WebhookEvent(
                    source=received.source,
                    event_key=received.event_key,
                    session_id=received.session_id[:200],
                    payload=db_safe_json(received.payload),
                    raw_body=db_safe_bytes(received.raw_body, limit=MAX_STORED_BODY),
                    outcome=WebhookEvent.Outcome.APPLIED,
                )
                result = self._apply_new(event, data)
                if not _insert_unless_kept(event):
                    raise _AlreadyKept
                return result
        except _AlreadyKept:
            pass
        with transaction.atomic():
            existing = (
                WebhookEvent.objects.filter(
                    source=received.source,
                    event_key=received.event_key,
                    outcome__in=WebhookEvent.KEEPING_OUTCOMES,
                )
                .order_by("received_at")
                .first()
            )
            if existing is None:  # the holder vanished meanwhile: treat as new next time
                raise OperationalError("webhook event key contention")
            return self._answer_replay(received, existing)

    def _answer_replay(self, received: _Received, original: WebhookEvent) -> WebhookResult:
        """A replay is recorded (for the operator) and answered like its original."""
        result = self.on_duplicate(original)
        WebhookEvent.objects.create(
            source=received.source,
            event_key=received.event_key,
            session_id=received.session_id[:200],
            payload=db_safe_json(received.payload),
            outcome=WebhookEvent.Outcome.DUPLICATE,
            http_status=result.status,
            detail=f"replay of event #{original.pk}",
        )
        return result

    def _apply_new(self, event: WebhookEvent, data: dict[str, Any]) -> WebhookResult:
        """Apply `event` (not stored yet) and set its outcome; the caller stores it."""
        result = self.apply(data, event)
        event.outcome = result.outcome
        event.http_status = result.status
        event.detail = result.detail[:2000]
        event.reference = result.reference[:200]
        if result.outcome == WebhookEvent.Outcome.APPLIED:
            event.applied_at = timezone.now()
        return result

    def _apply_body_keyed(self, received: _Received, data: dict[str, Any]) -> WebhookResult:
        """An event without an `id`: a duplicate only when it repeats the latest kept event of the
        same source and session within BODY_REPLAY_WINDOW_SECONDS. Events of one session are
        serialized here (a row lock on Postgres is not possible before the first event exists,
        so a transaction-scoped advisory lock per source and session); other sessions never
        wait."""
        _lock_stream(received.source, received.session_id)
        now = timezone.now()
        latest = (
            WebhookEvent.objects.filter(
                source=received.source,
                session_id=received.session_id[:200],
                outcome__in=WebhookEvent.KEEPING_OUTCOMES,
                received_at__gte=now - timedelta(seconds=BODY_REPLAY_WINDOW_SECONDS),
            )
            .order_by("-received_at", "-pk")
            .first()
        )
        if latest is not None and latest.event_key.split("@")[0] == received.event_key:
            return self._answer_replay(received, latest)
        # Kept under a key of its own (body hash @ arrival), so that the same body can be
        # applied again after a different event of the session.
        event = WebhookEvent(
            source=received.source,
            event_key=f"{received.event_key}@{now.timestamp():.6f}",
            session_id=received.session_id[:200],
            payload=db_safe_json(received.payload),
            raw_body=db_safe_bytes(received.raw_body, limit=MAX_STORED_BODY),
            outcome=WebhookEvent.Outcome.APPLIED,
        )
        result = self._apply_new(event, data)
        if not _insert_unless_kept(event):  # its key carries the arrival time: never kept
            raise OperationalError("webhook event key contention")
        return result


# The inbox row is written on every webhook: its INSERT is built once per process from the model
# (no query compilation per request), the values prepared by each field.
@functools.cache
def _inbox_insert_sql(vendor: str) -> str:
    meta = WebhookEvent._meta
    qn = connection.ops.quote_name
    columns = [f.column for f in meta.concrete_fields if not f.primary_key]
    return (
        f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT DO NOTHING RETURNING {qn(meta.pk.column)}"
    )


def _insert_unless_kept(event: WebhookEvent) -> bool:
    """Insert a new inbox row unless an event with its (source, event_key) is already kept:
    INSERT … ON CONFLICT DO NOTHING RETURNING id, one statement (no savepoint; a concurrent
    insert of the same key is waited for, as the unique index does). False: a replay."""
    fields = [f for f in WebhookEvent._meta.concrete_fields if not f.primary_key]
    params = [f.get_db_prep_save(f.pre_save(event, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(_inbox_insert_sql(connection.vendor), params)
        row = cursor.fetchone()
    if row is None:
        return False
    event.pk = row[0]
    event._state.adding = False
    event._state.db = connection.alias
    return True


def _lock_stream(source: str, session_id: str) -> None:
    """Serialize events of one (source, session) until the transaction ends (Postgres). SQLite
    already runs one write transaction at a time (IMMEDIATE)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [f"webhook:{source}:{session_id}"],
            )
