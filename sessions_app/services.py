"""Writes for WhatsApp sessions: connect, verify, reconnect, log out, and the status transitions.

`session_mark_connected` is the single path for "this session became connected" (status webhook,
verification, QR polling, the data-fix command). It moves the phone number from any older session
of the same organization to this one inside one transaction, serialised per organization, so a
number that is reconnected in a new session never trips the (organization, phone_number)
constraint and two concurrent calls neither deadlock nor fail.

Gateway calls happen outside database transactions: a slow gateway must not hold row locks.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from gateways_app.clients import gateway_client, gateway_for
from gateways_app.models import WhatsAppGateway
from sessions_app.models import WhatsAppSession
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.gateway import GatewayError, SessionStatus
from whatsapp_crm.models import Organization
from whatsapp_crm.phones import normalize_whatsapp_id
from whatsapp_crm.text import db_safe_text

logger = logging.getLogger(__name__)

Status = WhatsAppSession.Status

DISCONNECTED_AT_GATEWAY = "Disconnected at gateway"
NOT_FOUND_AT_GATEWAY = "Session not found at the gateway (deleted there, or the gateway lost it)."
LOGGED_OUT = "Logged out from the CRM"
CONNECTION_LOST = "Connection lost; the gateway is reconnecting"
MAX_ERROR_LENGTH = 2000

# vps_status values of a verification besides the gateway's own statuses.
VPS_UNREACHABLE = "unreachable"
VPS_NOT_FOUND = "not_found"

# What people put between the digits of a number ("+49 (151) 2345-6789").
_NUMBER_PUNCTUATION = str.maketrans("", "", "().-")


def gateway_phone_number(value: str | None) -> str | None:
    """A phone number as a gateway reports it, as stored: the digits of the international number
    without "+" ("+49 151 2345-6789", "4915123456789:12@s.whatsapp.net" → "4915123456789").

    Gateways report international numbers, so no region applies. None when libphonenumber
    reads no valid number: letters, digits other than 0-9, privacy ids ("…@lid").
    """
    if not isinstance(value, str):
        return None
    number, at, domain = value.partition("@")
    number = "".join(number.split()).translate(_NUMBER_PUNCTUATION)
    return normalize_whatsapp_id(f"{number}{at}{domain}")


def _error_text(error: object, default: str) -> str:
    text = db_safe_text(str(error).strip()) if error not in (None, "") else ""
    return (text or default)[:MAX_ERROR_LENGTH]


def _new_session_id() -> str:
    return f"wa_{uuid.uuid4().hex}"


# --- status transitions ---------------------------------------------------------------------------


@transaction.atomic(savepoint=False)
def session_mark_connected(
    *, session: WhatsAppSession, phone_number: str | None, locked: bool = False
) -> WhatsAppSession:
    """Store "connected" (and the phone number) on `session`, taking the number from older sessions.

    Lock order, always the same: the organization row (FOR NO KEY UPDATE, which does not block
    inserts referencing the organization), then the session rows. Every caller for the same
    organization queues on the first lock, so the number moves atomically and without deadlocks.
    `locked`: see `_current`; never with a number (the organization lock must come first).
    """
    phone = gateway_phone_number(phone_number)
    if phone and locked:
        raise ValueError("a session locked before its organization cannot take a number")
    if phone:  # without a number nothing moves: the session's own row lock is enough
        Organization.objects.select_for_update(no_key=True).filter(
            pk=session.organization_id
        ).first()
    current = _current(session, locked)
    now = timezone.now()

    if phone:
        holders = list(
            WhatsAppSession.objects.select_for_update()
            .filter(organization_id=current.organization_id, phone_number=phone)
            .exclude(pk=current.pk)
            .order_by("pk")
        )
        active = [h.pk for h in holders if h.status != Status.DISCONNECTED]
        inactive = [h.pk for h in holders if h.status == Status.DISCONNECTED]
        if active:
            WhatsAppSession.objects.filter(pk__in=active).update(
                phone_number=None,
                status=Status.DISCONNECTED,
                last_error=f"Number reconnected in session {current.session_id}",
                last_error_at=now,
                updated_at=now,
            )
        if inactive:
            WhatsAppSession.objects.filter(pk__in=inactive).update(
                phone_number=None, updated_at=now
            )
        if holders:
            logger.info(
                "phone %s moved to session %s from %s",
                phone,
                current.session_id,
                ", ".join(h.session_id for h in holders),
            )
        current.phone_number = phone

    if current.status != Status.CONNECTED:
        # A fresh connection clears the old error; a re-confirmation of a session that stayed
        # connected keeps it (e.g. a send that failed a minute ago stays visible on the card).
        current.last_error = ""
        current.last_error_at = None
    current.status = Status.CONNECTED
    current.save(
        update_fields=["phone_number", "status", "last_error", "last_error_at", "updated_at"]
    )
    return current


def _current(session: WhatsAppSession, locked: bool) -> WhatsAppSession:
    """The session's row, locked until the transaction ends. `locked`: the caller read `session`
    FOR UPDATE in this transaction (`session_lock_by_gateway_id`), so it is the row: one query
    fewer per status webhook."""
    if locked:
        return session
    return WhatsAppSession.objects.select_for_update().get(pk=session.pk)


@transaction.atomic(savepoint=False)
def session_mark_disconnected(
    *, session: WhatsAppSession, error: str | None, locked: bool = False
) -> WhatsAppSession:
    current = _current(session, locked)
    if current.status == Status.DISCONNECTED and current.last_error == LOGGED_OUT:
        # We logged it out: the gateway's "disconnected" (its webhook often lands in the same
        # second, or a later verification) is the echo of that, and must not replace the reason.
        return current
    current.status = Status.DISCONNECTED
    current.last_error = _error_text(error, DISCONNECTED_AT_GATEWAY)
    current.last_error_at = timezone.now()
    current.save(update_fields=["status", "last_error", "last_error_at", "updated_at"])
    return current


@transaction.atomic(savepoint=False)
def session_mark_connecting(
    *, session: WhatsAppSession, error: str | None = None, locked: bool = False
) -> WhatsAppSession:
    """The gateway is (re)connecting this session: waiting for a QR scan or re-establishing.

    A session that was connected and drops to "connecting" cannot send now: that is recorded as
    an error, so nobody mistakes it for healthy.
    """
    current = _current(session, locked)
    fields = ["status", "updated_at"]
    if error or current.status == Status.CONNECTED:
        current.last_error = _error_text(error, CONNECTION_LOST)
        current.last_error_at = timezone.now()
        fields += ["last_error", "last_error_at"]
    current.status = Status.CONNECTING
    current.save(update_fields=fields)
    return current


class StaleStatusReport(Exception):
    """A status event older than the one already applied: ignored, nothing changed."""

    def __init__(self, message: str, *, current_status: str) -> None:
        super().__init__(message)
        self.current_status = current_status


def session_apply_reported_status(
    *,
    session: WhatsAppSession,
    status: str,
    phone_number: str | None = None,
    error: str | None = None,
    reported_at: datetime | None = None,
    locked: bool = False,
) -> WhatsAppSession:
    """Apply a status the gateway reported (webhook), in the gateway's order.

    An event carrying its time (`reported_at`) that is older than the last one applied changes
    nothing (`StaleStatusReport`): gateways may deliver a retried "connected" after a newer
    "disconnected". Events without a time are applied in arrival order. `locked`: the caller
    read `session` FOR UPDATE in this transaction (`session_lock_by_gateway_id`).
    """
    if reported_at is None:
        return _mark_reported(session, status, phone_number, error, locked)
    last = (
        (session.status_reported_at, session.status)
        if locked
        else WhatsAppSession.objects.filter(pk=session.pk)
        .values_list("status_reported_at", "status")
        .first()
    )
    if last and last[0] and reported_at < last[0]:
        raise _stale(reported_at, last[0], last[1])
    try:
        with transaction.atomic():  # a savepoint: a report overtaken meanwhile is rolled back
            session = _mark_reported(session, status, phone_number, error, locked)
            # Compare-and-set: a newer report that committed in between wins.
            newer_or_first = Q(status_reported_at__isnull=True) | Q(
                status_reported_at__lte=reported_at
            )
            if not WhatsAppSession.objects.filter(newer_or_first, pk=session.pk).update(
                status_reported_at=reported_at
            ):
                raise _Overtaken
            session.status_reported_at = reported_at
    except _Overtaken:
        applied, current_status = WhatsAppSession.objects.values_list(
            "status_reported_at", "status"
        ).get(pk=session.pk)
        raise _stale(reported_at, applied, current_status)
    return session


def _mark_reported(
    session: WhatsAppSession,
    status: str,
    phone_number: str | None,
    error: str | None,
    locked: bool,
) -> WhatsAppSession:
    if status == Status.CONNECTED:
        return session_mark_connected(session=session, phone_number=phone_number, locked=locked)
    if status == Status.DISCONNECTED:
        return session_mark_disconnected(session=session, error=error, locked=locked)
    return session_mark_connecting(session=session, error=error, locked=locked)


class _Overtaken(Exception):
    pass


def _stale(reported_at: datetime, applied: datetime, current_status: str) -> StaleStatusReport:
    older = reported_at.isoformat(timespec="milliseconds")
    newer = applied.isoformat(timespec="milliseconds")
    return StaleStatusReport(
        f"Older ({older}) than the status already applied ({newer}); ignored.",
        current_status=current_status,
    )


def session_mark_error(*, session: WhatsAppSession, error: str) -> WhatsAppSession:
    """Record a failure (e.g. a send answered 503) without changing the status.

    One UPDATE, no lock: the message queue calls this often and must not wait on other writers.
    """
    now = timezone.now()
    text = _error_text(error, "Unknown gateway error")
    WhatsAppSession.objects.filter(pk=session.pk).update(
        last_error=text, last_error_at=now, updated_at=now
    )
    session.last_error = text
    session.last_error_at = now
    session.updated_at = now
    return session


def session_apply_gateway_status(
    *, session: WhatsAppSession, status: SessionStatus
) -> WhatsAppSession:
    """Store what the gateway says about the session (verification, QR polling, data fix)."""
    if status.status == Status.CONNECTED:
        return session_mark_connected(session=session, phone_number=status.phone_number)
    if status.status == Status.DISCONNECTED:
        return session_mark_disconnected(session=session, error=status.error)
    return session_mark_connecting(session=session, error=status.error)


# --- operations that call the gateway --------------------------------------------------------------


def session_create(
    *, organization: Organization, name: str = "", gateway: WhatsAppGateway | None = None
) -> WhatsAppSession:
    """Start a new session at the gateway (a gateway row of the organization, or the default
    gateway), then store it as "connecting".

    The gateway is asked first: when it fails, GatewayError propagates and nothing is written.
    """
    if gateway is not None and gateway.organization_id != organization.id:
        raise ApplicationError("No such gateway.", details={"gateway": ["No such gateway."]})
    session_id = _new_session_id()
    client = gateway_client(gateway)
    client.create_session(session_id)
    try:
        with transaction.atomic():
            return WhatsAppSession.objects.create(
                organization=organization,
                gateway=gateway,
                session_id=session_id,
                name=name.strip()[:100],
                status=Status.CONNECTING,
            )
    except Exception:
        # The row could not be stored: do not leave an orphan session at the gateway.
        try:
            client.delete_session(session_id)
        except GatewayError:
            logger.warning("could not delete orphan gateway session %s", session_id)
        raise


@dataclass
class VerifyResult:
    session: WhatsAppSession
    # connected | connecting | disconnected (the gateway's answer), not_found, or unreachable.
    vps_status: str
    # Why the truth could not be learned (vps_status "unreachable"), for the page and the API.
    error: GatewayError | None = field(default=None)

    @property
    def unreachable(self) -> bool:
        return self.vps_status == VPS_UNREACHABLE


def session_verify(*, session: WhatsAppSession) -> VerifyResult:
    """Ask the gateway for the session's real status and store it.

    Unreachable gateway (or any answer we cannot trust): nothing is changed.
    """
    try:
        status = gateway_for(session).get_status(session.session_id)
    except GatewayError as exc:
        if exc.code == "not_found":
            updated = session_mark_disconnected(session=session, error=NOT_FOUND_AT_GATEWAY)
            return VerifyResult(session=updated, vps_status=VPS_NOT_FOUND)
        logger.warning("verify %s: gateway failed: %s", session.session_id, exc)
        session.refresh_from_db()
        return VerifyResult(session=session, vps_status=VPS_UNREACHABLE, error=exc)
    updated = session_apply_gateway_status(session=session, status=status)
    return VerifyResult(session=updated, vps_status=status.status)


def session_verify_many(*, session_ids: list) -> dict[str, int]:
    """Verify several sessions (by row id); one failing does not stop the others."""
    counts = {"checked": 0, "connected": 0, "connecting": 0, "disconnected": 0, "unreachable": 0}
    for pk in session_ids:
        session = WhatsAppSession.objects.filter(pk=pk).first()
        if session is None:
            continue
        result = session_verify(session=session)
        counts["checked"] += 1
        key = VPS_UNREACHABLE if result.unreachable else result.session.status
        counts[key] += 1
    return counts


def session_logout(*, session: WhatsAppSession) -> WhatsAppSession:
    """Log the number out at the gateway; the session goes to history and frees its number."""
    try:
        gateway_for(session).delete_session(session.session_id)
    except GatewayError as exc:
        if exc.code != "not_found":  # already gone at the gateway: logging out is done
            raise
    with transaction.atomic():
        current = WhatsAppSession.objects.select_for_update().get(pk=session.pk)
        current.status = Status.DISCONNECTED
        current.phone_number = None
        current.last_error = LOGGED_OUT
        current.last_error_at = timezone.now()
        current.save(
            update_fields=["status", "phone_number", "last_error", "last_error_at", "updated_at"]
        )
        return current


def session_reconnect(*, session: WhatsAppSession) -> WhatsAppSession:
    """Restart the session at the gateway: it shows a QR code again until the phone scans it."""
    gateway_for(session).create_session(session.session_id)
    with transaction.atomic():
        current = WhatsAppSession.objects.select_for_update().get(pk=session.pk)
        current.status = Status.CONNECTING
        current.save(update_fields=["status", "updated_at"])
        return current


@dataclass
class QrPoll:
    session: WhatsAppSession
    qr: str | None = None  # the text to encode as a QR code, while connecting

    @property
    def status(self) -> str:
        return self.session.status


def session_poll_qr(*, session: WhatsAppSession) -> QrPoll:
    """One QR-polling step: the current QR text while connecting, else the stored outcome.

    When the gateway has no QR any more, its status says why; "connected" is stored through
    `session_mark_connected` before anyone is told.
    """
    session.refresh_from_db()
    if session.status == Status.CONNECTED:  # e.g. the status webhook was faster
        return QrPoll(session=session)
    gateway = gateway_for(session)
    qr = gateway.get_qr(session.session_id)
    if qr is not None:
        if session.status != Status.CONNECTING:
            session = session_mark_connecting(session=session)
        return QrPoll(session=session, qr=qr)
    try:
        status = gateway.get_status(session.session_id)
    except GatewayError as exc:
        if exc.code != "not_found":
            raise
        return QrPoll(
            session=session_mark_disconnected(session=session, error=NOT_FOUND_AT_GATEWAY)
        )
    if status.status == Status.CONNECTING and session.status == Status.CONNECTING:
        return QrPoll(session=session)  # between two QR codes
    return QrPoll(session=session_apply_gateway_status(session=session, status=status))


# --- data fix ---------------------------------------------------------------------------------------


def sessions_release_stuck(*, dry_run: bool = False) -> list[str]:
    """Repair sessions left inconsistent by older code; returns one line per change (or plan).

    1. Sessions stored "connecting", and "connected" ones without a phone number, are checked
       against the gateway and get what it says. A session the gateway reports connected with
       number P takes P from the older session holding it (the case the unique constraint used to
       block, leaving the new session "connecting" for ever).
    2. Sessions the gateway no longer knows are marked disconnected.
    An unreachable gateway changes nothing; the line says so.
    """
    lines: list[str] = []
    prefix = "would " if dry_run else ""
    suspects = list(
        WhatsAppSession.objects.filter(
            Q(status=Status.CONNECTING) | Q(status=Status.CONNECTED, phone_number__isnull=True)
        )
        .select_related("organization", "gateway")
        .order_by("created_at")
    )
    for session in suspects:
        label = f"session {session.session_id} ({session.organization.name})"
        try:
            status = gateway_for(session).get_status(session.session_id)
        except GatewayError as exc:
            if exc.code == "not_found":
                lines.append(f"{label}: not found at the gateway → {prefix}mark disconnected")
                if not dry_run:
                    session_mark_disconnected(session=session, error=NOT_FOUND_AT_GATEWAY)
                continue
            lines.append(f"{label}: gateway unreachable, left unchanged ({exc.message})")
            continue

        if status.status == Status.CONNECTED:
            phone = gateway_phone_number(status.phone_number)
            holders = (
                list(
                    WhatsAppSession.objects.filter(
                        organization_id=session.organization_id, phone_number=phone
                    ).exclude(pk=session.pk)
                )
                if phone
                else []
            )
            for holder in holders:
                lines.append(
                    f"{label}: {prefix}release number {phone} from older session "
                    f"{holder.session_id} ({holder.status})"
                )
            lines.append(f"{label}: {prefix}mark connected as {phone or 'unknown number'}")
            if not dry_run:
                session_mark_connected(session=session, phone_number=status.phone_number)
        elif status.status == Status.DISCONNECTED:
            lines.append(
                f"{label}: disconnected at the gateway → {prefix}mark disconnected"
                f" ({status.error or DISCONNECTED_AT_GATEWAY})"
            )
            if not dry_run:
                session_mark_disconnected(session=session, error=status.error)
        elif session.status != Status.CONNECTING:
            lines.append(f"{label}: connecting at the gateway → {prefix}mark connecting")
            if not dry_run:
                session_mark_connecting(session=session, error=status.error)
        else:
            lines.append(f"{label}: still waiting for a QR scan at the gateway, left unchanged")
    return lines


def sessions_clear_phone_number(*, session_ids: list) -> int:
    """Free the numbers of these sessions (admin data fix); returns how many held one."""
    with transaction.atomic():
        return WhatsAppSession.objects.filter(
            pk__in=session_ids, phone_number__isnull=False
        ).update(phone_number=None, updated_at=timezone.now())
