"""Delivery receipts: what WhatsApp did with a sent message, per participant (INTERFACE §8).

Rules:
- An ack is `server` (WhatsApp has it: nothing to record), `delivered`, `read` or `played`, for
  one participant of a group message (none for a message to one person). `receipt_record` keeps
  it as one row of `whatsapp_message_receipts`; the unique (message_id, participant, status)
  makes a replay, or 20 copies at once, insert nothing (INSERT … ON CONFLICT DO NOTHING).
- The queue row's `delivered_count` / `read_count` are the distinct participants with a receipt /
  with a read or played one (read implies delivered, played implies read); `delivered_at` /
  `read_at` the earliest such receipt. Each new receipt moves them by what it adds: +1 delivered
  for a participant's first receipt of any kind, +1 read for its first read or played, the
  earliest times kept; a replay inserts nothing and moves nothing. Acks in any order (read
  before delivered) give the numbers a full recount of the receipt rows gives — which is how
  they are set when a send is recorded after its receipts (`receipts_apply_kept`), and how SQLite
  (`make run`) counts them.
  The campaign group mirrors its row's numbers; the campaign's are the sums of its groups (moved
  by the group's change, and recounted with its other counts, services.campaigns).
- Receipts never change a row's status (an ERROR ack is a message error: queue/errors.py); a
  receipt that moves a row's numbers sets its `updated_at`, as every queue write does (the queue
  page's poll watches it).
- Concurrency: one transaction per ack. The queue row of that one message is locked (FOR UPDATE)
  before the receipt is inserted and counted, so concurrent acks of one message count one after
  the other and none is lost; acks of other messages never wait for it. The campaign row is
  updated last (a single-row increment), so acks of one campaign wait for each other only for
  the commit.
- An ack whose send is not recorded yet (the webhook beat the worker) is kept: its receipt row is
  written anyway (the organization is known from the session) and `pending` is answered, so the
  caller keeps the event pending like a message error. `queue.send.record_sent` calls
  `receipts_apply_kept` when it records the send, which counts the kept receipts. Both sides take
  `lock_message_id` first (the same advisory lock as message errors), so neither misses the other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from campaigns_app.models import (
    NotificationCampaign,
    NotificationCampaignGroup,
    ScheduledWhatsAppMessage,
    WhatsAppMessageReceipt,
)
from campaigns_app.queue.errors import lock_message_id
from sessions_app.models import WhatsAppSession

ReceiptStatus = WhatsAppMessageReceipt.Status
# Acks in the order WhatsApp reports them; `error` is a message error (queue/errors.py).
ACKS = ("server", "delivered", "read", "played", "error")
READ_STATUSES = (ReceiptStatus.READ, ReceiptStatus.PLAYED)
# Domains that mean "a phone number" (WhatsApp Web's and the multi-device one).
_PHONE_DOMAINS = {"", "s.whatsapp.net", "c.us"}
_ROW_FIELDS = (
    "id",
    "campaign_group_id",
    "campaign_group__campaign_id",
    "delivered_count",
    "read_count",
    "delivered_at",
    "read_at",
)


@dataclass(frozen=True)
class ReceiptOutcome:
    kind: str  # pending | applied | unchanged
    row_id: uuid.UUID | None = None
    delivered_count: int = 0
    read_count: int = 0
    detail: str = ""


@dataclass(frozen=True)
class ReceiptCounts:
    delivered_count: int = 0
    read_count: int = 0
    delivered_at: datetime | None = None
    read_at: datetime | None = None

    def as_fields(self) -> dict[str, Any]:
        return {
            "delivered_count": self.delivered_count,
            "read_count": self.read_count,
            "delivered_at": self.delivered_at,
            "read_at": self.read_at,
        }


def receipt_participant(value: Any) -> str:
    """One spelling per participant: "4915…", "4915…@c.us", "4915…:12@s.whatsapp.net" (a device)
    are all "4915…"; other ids ("…@lid") keep their domain. "" for none (a message to one
    person)."""
    text = str(value or "").strip()
    user, _, domain = text.partition("@")
    user = user.split(":", 1)[0].lstrip("+")
    if domain.lower() in _PHONE_DOMAINS:
        return user[:100]
    return f"{user}@{domain}"[:100]


_LOCKED_ROW = f"""
SELECT m.id, m.campaign_group_id, g.campaign_id, m.delivered_count, m.read_count,
       m.delivered_at, m.read_at, m.organization_id
FROM {ScheduledWhatsAppMessage._meta.db_table} AS m
JOIN {WhatsAppSession._meta.db_table} AS s ON s.id = m.session_id
LEFT JOIN {NotificationCampaignGroup._meta.db_table} AS g ON g.id = m.campaign_group_id
WHERE s.session_id = %s AND m.message_id = %s
ORDER BY m.created_at DESC
LIMIT 1
FOR UPDATE OF m
"""


def _locked_row(session_key: str, message_id: str) -> dict[str, Any] | None:
    """The queue row of `message_id` sent by the session `session_key`, locked (FOR UPDATE of
    the row only), with what a receipt needs of it: one statement, the session joined in
    (on Postgres as plain SQL, no query compiled per ack: acks come in floods)."""
    if _one_statement():
        with connection.cursor() as cursor:
            cursor.execute(_LOCKED_ROW, [session_key, message_id])
            found = cursor.fetchone()
        return dict(zip((*_ROW_FIELDS, "organization_id"), found, strict=True)) if found else None
    return (
        ScheduledWhatsAppMessage.objects.select_for_update(of=("self",))
        .filter(session__session_id=session_key, message_id=message_id)
        .values(*_ROW_FIELDS, "organization_id")
        .first()
    )


def _insert(
    *, organization_id: Any, message_id: str, participant: str, status: str, at: datetime
) -> bool:
    """Keep one receipt; False when it was already kept (ON CONFLICT DO NOTHING, which neither
    waits for nor fails on a concurrent copy: the unique index settles it)."""
    # Raw SQL skips the fields' conversions: SQLite (`make run`) stores a uuid as 32 hex digits
    # and cannot bind a UUID object at all.
    meta = WhatsAppMessageReceipt._meta
    organization_id = meta.get_field("organization").get_db_prep_value(organization_id, connection)
    at = meta.get_field("at").get_db_prep_value(at, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {meta.db_table} "
            "(organization_id, message_id, participant, status, at) VALUES (%s, %s, %s, %s, %s) "
            "ON CONFLICT (message_id, participant, status) DO NOTHING",
            [organization_id, message_id, participant, status, at],
        )
        return cursor.rowcount == 1


def receipt_counts(*, message_id: str) -> ReceiptCounts:
    """The numbers of one message from its receipt rows (one indexed aggregate)."""
    read = Q(status__in=READ_STATUSES)
    counts = WhatsAppMessageReceipt.objects.filter(message_id=message_id).aggregate(
        delivered_count=Count("participant", distinct=True),
        read_count=Count("participant", distinct=True, filter=read),
        delivered_at=Min("at"),
        read_at=Min("at", filter=read),
    )
    return ReceiptCounts(**counts)


def _apply(row: dict[str, Any], counts: ReceiptCounts) -> bool:
    """Write `counts` on the row, its group, and move the campaign's sums; False: no change."""
    old = _row_counts(row)
    if old == counts:
        return False
    ScheduledWhatsAppMessage.objects.filter(id=row["id"]).update(
        **counts.as_fields(), updated_at=timezone.now()
    )
    if row["campaign_group_id"]:
        NotificationCampaignGroup.objects.filter(id=row["campaign_group_id"]).update(
            **counts.as_fields()
        )
        delivered = counts.delivered_count - old.delivered_count
        read = counts.read_count - old.read_count
        if delivered or read:
            # Last write of the transaction: the campaign row is held only until the commit.
            NotificationCampaign.objects.filter(id=row["campaign_group__campaign_id"]).update(
                delivered_count=F("delivered_count") + delivered,
                read_count=F("read_count") + read,
            )
    return True


def receipt_record(
    *,
    session_key: str,
    message_id: str,
    participant: str | None,
    status: str,
    at: datetime | None = None,
) -> ReceiptOutcome:
    """Keep one participant's `delivered` / `read` / `played` receipt for `message_id` (the
    gateway's id, as stored on the queue row) sent by the session `session_key` (its gateway
    id), and move the row's numbers.

    Runs in the caller's transaction (or its own). `unknown_session`: no such session, nothing
    kept. `pending`: the send is not recorded yet; the receipt is kept and counted when it is
    (the caller keeps its event pending, answers 202). `unchanged`: a replay, or a receipt that
    changes no number.
    """
    if status not in ReceiptStatus.values:
        raise ValueError(f"not a receipt status: {status!r}")
    who = receipt_participant(participant)
    at = at or timezone.now()
    with transaction.atomic(savepoint=False):
        row = _locked_row(session_key, message_id)
        if row is None:
            session = (
                WhatsAppSession.objects.filter(session_id=session_key)
                .values_list("organization_id", flat=True)
                .first()
            )
            if session is None:
                return ReceiptOutcome("unknown_session", detail=f"unknown session {session_key}")
            # Not recorded yet, or being recorded right now: wait for the recorder (same lock),
            # then look again.
            lock_message_id(message_id)
            row = _locked_row(session_key, message_id)
            if row is None:
                _insert(
                    organization_id=session,
                    message_id=message_id,
                    participant=who,
                    status=status,
                    at=at,
                )
                return ReceiptOutcome("pending", detail="send not recorded yet; receipt kept")
        if _one_statement():
            inserted, counts = _insert_and_apply(row, message_id, who, status, at)
        else:
            inserted = _insert(
                organization_id=row["organization_id"],
                message_id=message_id,
                participant=who,
                status=status,
                at=at,
            )
            counts = receipt_counts(message_id=message_id) if inserted else None
            if counts is not None:
                _apply(row, counts)
        if not inserted or counts is None:
            return ReceiptOutcome(
                "unchanged",
                row["id"],
                row["delivered_count"],
                row["read_count"],
                f"{status} of {who or 'the recipient'} already recorded",
            )
    changed = counts != _row_counts(row)
    return ReceiptOutcome(
        "applied" if changed else "unchanged",
        row["id"],
        counts.delivered_count,
        counts.read_count,
        f"{status} by {who or 'the recipient'}: delivered {counts.delivered_count}, "
        f"read {counts.read_count}",
    )


def _one_statement() -> bool:
    """Postgres writes a receipt and its counts in one statement; SQLite (`make run`) in four."""
    return connection.vendor == "postgresql"


def _row_counts(row: dict[str, Any]) -> ReceiptCounts:
    return ReceiptCounts(
        row["delivered_count"], row["read_count"], row["delivered_at"], row["read_at"]
    )


# Postgres: the receipt insert, the new counts and the three writes of `_apply` in one statement
# (data-modifying CTEs). The counts move from the row's (locked by the statement before, so every
# receipt of the message counted on it is committed): a participant is delivered once, at its
# first receipt of any kind, and read once, at its first read or played; the times are the
# earliest. `seen` asks the unique index whether the participant had receipts before — the
# statement's own insert is invisible to it — so an ack costs the same whether the message has 3
# receipts or 600 (a recount read them all, for every ack of a large group).
_INSERT_AND_APPLY = f"""
WITH inserted AS (
    INSERT INTO {WhatsAppMessageReceipt._meta.db_table}
        (organization_id, message_id, participant, status, at)
    VALUES (%(organization)s, %(message)s, %(participant)s, %(status)s, %(at)s)
    ON CONFLICT (message_id, participant, status) DO NOTHING
    RETURNING at
), seen AS (
    SELECT
        EXISTS (SELECT 1 FROM {WhatsAppMessageReceipt._meta.db_table}
                WHERE message_id = %(message)s AND participant = %(participant)s) AS delivered,
        EXISTS (SELECT 1 FROM {WhatsAppMessageReceipt._meta.db_table}
                WHERE message_id = %(message)s AND participant = %(participant)s
                  AND status = ANY(%(read)s)) AS read
), counts AS (
    SELECT
        %(old_delivered)s + (NOT seen.delivered)::int AS delivered_count,
        %(old_read)s + (%(is_read)s AND NOT seen.read)::int AS read_count,
        LEAST(%(old_delivered_at)s::timestamptz, inserted.at) AS delivered_at,
        CASE WHEN %(is_read)s THEN LEAST(%(old_read_at)s::timestamptz, inserted.at)
             ELSE %(old_read_at)s::timestamptz END AS read_at
    FROM inserted, seen
), changed AS (
    SELECT counts.* FROM counts
    WHERE (delivered_count, read_count, delivered_at, read_at)
          IS DISTINCT FROM (%(old_delivered)s, %(old_read)s, %(old_delivered_at)s::timestamptz,
                            %(old_read_at)s::timestamptz)
), row_update AS (
    UPDATE {ScheduledWhatsAppMessage._meta.db_table} AS m
    SET delivered_count = c.delivered_count, read_count = c.read_count,
        delivered_at = c.delivered_at, read_at = c.read_at, updated_at = %(now)s
    FROM changed AS c WHERE m.id = %(row)s
), group_update AS (
    UPDATE {NotificationCampaignGroup._meta.db_table} AS g
    SET delivered_count = c.delivered_count, read_count = c.read_count,
        delivered_at = c.delivered_at, read_at = c.read_at
    FROM changed AS c WHERE g.id = %(group)s
), campaign_update AS (
    UPDATE {NotificationCampaign._meta.db_table} AS k
    SET delivered_count = k.delivered_count + (c.delivered_count - %(old_delivered)s),
        read_count = k.read_count + (c.read_count - %(old_read)s)
    FROM changed AS c
    WHERE k.id = %(campaign)s
      AND (c.delivered_count <> %(old_delivered)s OR c.read_count <> %(old_read)s)
)
SELECT delivered_count, read_count, delivered_at, read_at FROM counts
"""


def _insert_and_apply(
    row: dict[str, Any], message_id: str, participant: str, status: str, at: datetime
) -> tuple[bool, ReceiptCounts | None]:
    """Postgres: keep the receipt and write the new counts, one round trip
    (`_INSERT_AND_APPLY`). (False, None) when the receipt was already kept."""
    with connection.cursor() as cursor:
        cursor.execute(
            _INSERT_AND_APPLY,
            {
                "organization": row["organization_id"],
                "message": message_id,
                "participant": participant,
                "status": status,
                "at": at,
                "read": [str(s.value) for s in READ_STATUSES],
                "is_read": status in READ_STATUSES,
                "old_delivered": row["delivered_count"],
                "old_read": row["read_count"],
                "old_delivered_at": row["delivered_at"],
                "old_read_at": row["read_at"],
                "row": row["id"],
                "group": row["campaign_group_id"],
                "campaign": row["campaign_group__campaign_id"],
                "now": timezone.now(),
            },
        )
        found = cursor.fetchone()
    if found is None:  # no row: nothing was inserted
        return False, None
    return True, ReceiptCounts(*found)


def receipts_apply_kept(*, row: ScheduledWhatsAppMessage, message_id: str) -> ReceiptCounts:
    """The send of `row` was just recorded as `message_id` (record_sent's transaction, which
    holds lock_message_id): count the receipts kept for it meanwhile onto the row and its group.

    A re-sent row does not keep the numbers of its earlier send (zeros are written then). The
    caller's campaign recount then sums the groups.
    """
    counts = receipt_counts(message_id=message_id) if message_id else ReceiptCounts()
    before = ReceiptCounts(row.delivered_count, row.read_count, row.delivered_at, row.read_at)
    if counts == before == ReceiptCounts():
        return counts
    ScheduledWhatsAppMessage.objects.filter(id=row.id).update(**counts.as_fields())
    if row.campaign_group_id:
        NotificationCampaignGroup.objects.filter(id=row.campaign_group_id).update(
            **counts.as_fields()
        )
    return counts
