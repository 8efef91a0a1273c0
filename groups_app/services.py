"""Writes for WhatsApp groups: the sync from the gateway and the community-parent data fix.

`group_sync` is the one function behind the page, the API, the admin and the Celery task. It
fails loudly: a gateway problem raises `GatewayError` (502 upstream "vps"), a database problem
raises `GroupSyncDatabaseError` carrying the SQLSTATE (500 upstream "db"); either way the stored
groups are left exactly as they were. `saved_count` is read back from the database, never
computed from what we meant to write.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from gateways_app.clients import gateway_for
from groups_app.models import WhatsAppGroup
from sessions_app.models import WhatsAppSession
from sessions_app.services import session_mark_error
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.gateway import GatewayError, GatewayGroup
from whatsapp_crm.text import db_safe_text

logger = logging.getLogger(__name__)

# Bounds of the columns: a gateway value outside them is the gateway's problem (skipped or
# clamped here), not a database error that would fail the whole sync.
GROUP_JID_SUFFIX = "@g.us"
MAX_JID_LENGTH = WhatsAppGroup._meta.get_field("group_jid").max_length
MAX_NAME_LENGTH = WhatsAppGroup._meta.get_field("group_name").max_length
MAX_PARTICIPANTS = 2_147_483_647  # PositiveIntegerField on Postgres

# Columns a re-sync overwrites; id and session stay, organization follows the session.
SYNC_UPDATE_FIELDS = [
    "organization",
    "group_name",
    "participant_count",
    "is_community",
    "is_community_announce",
    "is_active",
    "synced_at",
]


class GroupSyncDatabaseError(ApplicationError):
    """The database refused the sync; nothing was changed. `code` is the SQLSTATE if known."""

    def __init__(self, message: str, *, code: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message, details=details)
        self.code = code


@dataclass(frozen=True)
class GroupSyncResult:
    success: bool
    vps_count: int  # groups in the gateway's answer, as received
    saved_count: int  # active groups of the session in the database after the sync (read back)
    skipped_community_parents: int  # distinct community-parent JIDs left out
    duplicate_count: int = 0  # entries dropped because their JID was listed before
    invalid_count: int = 0  # entries without a usable group JID (empty, not @g.us, too long)
    deactivated_count: int = 0  # stored groups the gateway no longer lists
    fetch_seconds: float = 0.0
    write_seconds: float = 0.0
    skipped_jids: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _SyncPlan:
    rows: list[GatewayGroup]
    skipped_parents: list[str]
    duplicate_count: int
    invalid_count: int


def _usable_jid(jid: str) -> bool:
    return (
        bool(jid)
        and jid.isascii()
        and jid.endswith(GROUP_JID_SUFFIX)
        and len(jid) > len(GROUP_JID_SUFFIX)
        and len(jid) <= MAX_JID_LENGTH
        and "\x00" not in jid
    )


def _plan(groups: list[GatewayGroup]) -> _SyncPlan:
    """Drop community parents and entries without a usable group JID; keep the first entry of
    each JID.

    A JID that is a community parent in any of its entries is skipped: storing a parent would
    only produce error 420 at send time.
    """
    parents = {g.jid for g in groups if g.is_community and _usable_jid(g.jid)}
    seen: set[str] = set()
    rows: list[GatewayGroup] = []
    duplicates = invalid = 0
    for group in groups:
        if not _usable_jid(group.jid):
            invalid += 1
            continue
        if group.jid in seen:
            duplicates += 1
            continue
        seen.add(group.jid)
        if group.jid not in parents:
            rows.append(group)
    return _SyncPlan(
        rows=rows,
        skipped_parents=sorted(parents),
        duplicate_count=duplicates,
        invalid_count=invalid,
    )


def _record_not_connected(session: WhatsAppSession, exc: GatewayError) -> None:
    """Store the gateway's "not connected" on the session, so the sessions page shows it."""
    try:
        session_mark_error(session=session, error=exc.message)
    except DatabaseError:  # the gateway error is what the caller must see; this is a side note
        logger.exception("Could not record the gateway error on session %s", session.pk)


def group_sync(*, session: WhatsAppSession) -> GroupSyncResult:
    """Fetch the session's groups from the gateway and store them; see the module docstring.

    Queries: lock the session row, one INSERT … ON CONFLICT (session_id, group_jid) DO UPDATE for
    all groups, one UPDATE for the groups that vanished, one COUNT — whatever the number of groups.
    """
    started = time.perf_counter()
    try:
        groups = gateway_for(session).list_groups(session.session_id)
    except GatewayError as exc:
        if exc.not_connected:
            _record_not_connected(session, exc)
        raise
    fetched = time.perf_counter()

    plan = _plan(groups)
    now = timezone.now()
    objs = [
        WhatsAppGroup(
            organization_id=session.organization_id,
            session_id=session.pk,
            group_jid=group.jid,
            group_name=db_safe_text(group.subject)[:MAX_NAME_LENGTH],
            participant_count=min(max(group.size, 0), MAX_PARTICIPANTS),
            is_community=False,
            is_community_announce=group.is_community_announce,
            is_active=True,
            synced_at=now,
        )
        for group in plan.rows
    ]
    try:
        with transaction.atomic():
            # Serialises syncs of one session, so "not written by this sync" below is exact.
            list(
                WhatsAppSession.objects.select_for_update()
                .filter(pk=session.pk)
                .order_by()
                .values_list("pk", flat=True)
            )
            if objs:
                WhatsAppGroup.objects.bulk_create(
                    objs,
                    update_conflicts=True,
                    unique_fields=["session", "group_jid"],
                    update_fields=SYNC_UPDATE_FIELDS,
                )
            # Every row the gateway listed now carries exactly `now`; the rest vanished.
            deactivated = (
                WhatsAppGroup.objects.filter(session=session, is_active=True)
                .filter(Q(synced_at__isnull=True) | ~Q(synced_at=now))
                .update(is_active=False)
            )
            saved = WhatsAppGroup.objects.filter(session=session, is_active=True).count()
            if saved != len(objs):
                # Something (a trigger, a rule, a concurrent writer) kept rows out: do not
                # report success for rows that are not there.
                raise GroupSyncDatabaseError(
                    f"The database holds {saved} active groups after writing {len(objs)}; "
                    "the sync was rolled back.",
                    code="count_mismatch",
                    details={"expected": len(objs), "found": saved},
                )
    except GroupSyncDatabaseError:
        raise
    except DatabaseError as exc:
        code = _sqlstate(exc)
        logger.exception("Group sync of session %s failed in the database (%s)", session.pk, code)
        raise GroupSyncDatabaseError(
            f"The database refused the group sync: {_db_message(exc)}",
            code=code,
            details={
                "exception": type(exc).__name__,
                "session": str(session.pk),
                "groups": len(objs),
            },
        ) from exc
    written = time.perf_counter()

    result = GroupSyncResult(
        success=True,
        vps_count=len(groups),
        saved_count=saved,
        skipped_community_parents=len(plan.skipped_parents),
        duplicate_count=plan.duplicate_count,
        invalid_count=plan.invalid_count,
        deactivated_count=deactivated,
        fetch_seconds=fetched - started,
        write_seconds=written - fetched,
        skipped_jids=plan.skipped_parents,
    )
    logger.info(
        "Group sync of session %s: %s from the gateway, %s saved, %s community parents skipped, "
        "%s deactivated",
        session.session_id,
        result.vps_count,
        result.saved_count,
        result.skipped_community_parents,
        result.deactivated_count,
    )
    return result


def _sqlstate(exc: DatabaseError) -> str:
    """The SQLSTATE of a Postgres error (psycopg 3), else the SQLite error name, else "db_error"."""
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
    if sqlstate:
        return str(sqlstate)
    name = getattr(cause, "sqlite_errorname", None)
    return str(name) if name else "db_error"


def _db_message(exc: DatabaseError) -> str:
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag is not None else None
    lines = str(exc).strip().splitlines()
    text = primary or (lines[0] if lines else type(exc).__name__)
    return text[:300]


# --- data fix ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PurgedGroup:
    id: str
    group_jid: str
    group_name: str
    is_community: bool
    session_id: str  # the gateway's session id
    organization: str

    def describe(self) -> str:
        kind = "community parent" if self.is_community else "named JID"
        return (
            f"{self.group_jid}  {self.group_name or '(no name)'}  [{kind}; session "
            f"{self.session_id}; {self.organization}]"
        )


def normalize_group_jid(value: str) -> str:
    """Accept "120363…@g.us" or just the digits."""
    value = value.strip()
    return value if "@" in value or not value else f"{value}@g.us"


def group_purge_community_parents(
    *,
    jids: Iterable[str] = (),
    groups: QuerySet[WhatsAppGroup] | None = None,
    dry_run: bool = False,
) -> list[PurgedGroup]:
    """Delete stored community parents (and the groups with the JIDs named); return what went.

    `groups` narrows the candidates (the admin passes the selected rows). With `dry_run`
    nothing is deleted and the list says what would be.
    """
    wanted = {normalize_group_jid(j) for j in jids if j and j.strip()}
    condition = Q(is_community=True)
    if wanted:
        condition |= Q(group_jid__in=wanted)
    base = groups if groups is not None else WhatsAppGroup.objects.all()
    with transaction.atomic():
        doomed = list(
            base.filter(condition)
            .select_related("session", "organization")
            .select_for_update(of=("self",))
            .order_by("organization__name", "session__session_id", "group_jid")
        )
        purged = [
            PurgedGroup(
                id=str(group.pk),
                group_jid=group.group_jid,
                group_name=group.group_name,
                is_community=group.is_community,
                session_id=group.session.session_id,
                organization=group.organization.name,
            )
            for group in doomed
        ]
        if doomed and not dry_run:
            WhatsAppGroup.objects.filter(pk__in=[g.pk for g in doomed]).delete()
    return purged


def group_participants_changed(*, session: WhatsAppSession, group_jid: str, delta: int) -> int:
    """A group-participants webhook of `session` (artists_app/member_events.py): move the
    session's stored member count of that group by `delta` (joins +, leaves −, never below 0),
    so "of N members" stays true between syncs; the next sync stores the gateway's count again.
    Each session of a group reports its own events, so only this session's row moves. Returns
    the number of rows changed (0: a group this session has not synced)."""
    if not delta:
        return 0
    return WhatsAppGroup.objects.filter(
        session_id=session.pk, group_jid=normalize_group_jid(group_jid)
    ).update(participant_count=Greatest(F("participant_count") + delta, Value(0)))
