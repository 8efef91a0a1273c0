"""Campaign writes: create (one queue row per group), recount, mirror a queue row onto its group,
retry the failed groups, cancel what has not been sent.

Rules:
- A campaign group row mirrors the status of its queue row, written in the same transaction, and
  every change recounts the campaign under a lock on the campaign row.
- `cancelled` is neither sent nor failed. A campaign whose groups are all settled is `cancelled`
  when some were cancelled and none was sent; otherwise its counts decide (sent, partly failed,
  failed) as usual.
- Retrying failed groups never touches cancelled ones, and never sends before the campaign's
  `scheduled_for`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns_app.models import (
    NotificationCampaign,
    NotificationCampaignGroup,
    ScheduledWhatsAppMessage,
)
from campaigns_app.services.common import (
    REQUEUE_FIELDS,
    kick_dispatch,
    requeue_fields,
    session_check,
)
from groups_app.models import WhatsAppGroup
from sessions_app.models import WhatsAppSession
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.models import Organization

MessageStatus = ScheduledWhatsAppMessage.Status
GroupStatus = NotificationCampaignGroup.Status
CampaignStatus = NotificationCampaign.Status


def campaign_status_of(
    *,
    campaign: NotificationCampaign,
    total: int,
    sent: int,
    failed: int,
    cancelled: int,
    now: datetime,
) -> str:
    """The campaign's status from its group counts (see the module's rules)."""
    if total == 0:
        return CampaignStatus.DRAFT
    if sent + failed + cancelled < total:
        # Nothing sent yet and its time not come: still scheduled (also after a retry or a
        # restore of a cancelled group), otherwise under way.
        waiting = campaign.scheduled_for > now and sent == 0
        return CampaignStatus.SCHEDULED if waiting else CampaignStatus.SENDING
    if sent == 0 and cancelled:
        return CampaignStatus.CANCELLED
    if failed == 0:
        return CampaignStatus.SENT
    if sent == 0:
        return CampaignStatus.FAILED
    return CampaignStatus.PARTIAL_FAILURE


def _campaign_recount(*, campaign_id: Any, now: datetime | None = None) -> NotificationCampaign:
    now = now or timezone.now()
    with transaction.atomic():
        # The row lock serializes recounts of one campaign; each counts after taking it, so the
        # last one sees every committed group change and no count is lost.
        campaign = NotificationCampaign.objects.select_for_update().get(id=campaign_id)
        counts = NotificationCampaignGroup.objects.filter(campaign_id=campaign_id).aggregate(
            total=Count("id"),
            sent=Count("id", filter=Q(status=GroupStatus.SENT)),
            failed=Count("id", filter=Q(status=GroupStatus.FAILED)),
            cancelled=Count("id", filter=Q(status=GroupStatus.CANCELLED)),
            delivered=Coalesce(Sum("delivered_count"), 0),
            read=Coalesce(Sum("read_count"), 0),
        )
        total, sent, failed, cancelled = (
            counts["total"],
            counts["sent"],
            counts["failed"],
            counts["cancelled"],
        )
        # Receipts (queue/receipts.py) move these between recounts; a recount settles them.
        receipts = (counts["delivered"], counts["read"])
        status = campaign_status_of(
            campaign=campaign, total=total, sent=sent, failed=failed, cancelled=cancelled, now=now
        )
        final = status in NotificationCampaign.FINAL_STATUSES
        finished_at = (campaign.finished_at or now) if final else None
        changed = (
            campaign.total_groups,
            campaign.sent_count,
            campaign.failed_count,
            campaign.cancelled_count,
            campaign.status,
            campaign.finished_at,
            campaign.delivered_count,
            campaign.read_count,
        ) != (total, sent, failed, cancelled, status, finished_at, *receipts)
        if changed:
            campaign.delivered_count, campaign.read_count = receipts
            campaign.total_groups = total
            campaign.sent_count = sent
            campaign.failed_count = failed
            campaign.cancelled_count = cancelled
            campaign.status = status
            campaign.finished_at = finished_at
            campaign.updated_at = now
            campaign.save(
                update_fields=[
                    "total_groups",
                    "sent_count",
                    "failed_count",
                    "cancelled_count",
                    "status",
                    "finished_at",
                    "delivered_count",
                    "read_count",
                    "updated_at",
                ]
            )
    return campaign


def campaign_recount(*, campaign: NotificationCampaign) -> NotificationCampaign:
    """Recompute the counts and the status from the campaign's group rows."""
    return _campaign_recount(campaign_id=campaign.id)


def campaign_group_mirror(
    *,
    row: ScheduledWhatsAppMessage,
    status: str,
    now: datetime,
    error_message: str = "",
    message_id: str | None = None,
    sent_at: datetime | None = None,
) -> None:
    """Mirror a queue row onto its campaign group row and recount (caller's transaction)."""
    fields: dict[str, Any] = {"status": status, "error_message": error_message, "updated_at": now}
    if message_id is not None:
        fields["message_id"] = message_id
        fields["sent_at"] = sent_at
    NotificationCampaignGroup.objects.filter(id=row.campaign_group_id).update(**fields)
    if status != GroupStatus.PENDING or message_id is not None:
        campaign_id = (
            row.campaign_group.campaign_id
            if row.campaign_group is not None
            else NotificationCampaignGroup.objects.values_list("campaign_id", flat=True).get(
                id=row.campaign_group_id
            )
        )
        _campaign_recount(campaign_id=campaign_id, now=now)


def campaign_group_requeued(*, row: ScheduledWhatsAppMessage, now: datetime) -> None:
    """A queue row of a campaign is pending again: so is its group, and the campaign recounts."""
    NotificationCampaignGroup.objects.filter(id=row.campaign_group_id).update(
        status=GroupStatus.PENDING, message_id="", error_message="", sent_at=None, updated_at=now
    )
    _campaign_recount(campaign_id=row.campaign_group.campaign_id, now=now)


def campaign_create(
    *,
    organization: Organization,
    session: WhatsAppSession,
    message: str,
    group_ids: Iterable[Any],
    name: str = "",
    scheduled_for: datetime | None = None,
    created_by: Any = None,
) -> NotificationCampaign:
    session_check(organization=organization, session=session)
    message = message or ""
    if not message.strip():
        raise ApplicationError("The message is empty.", details={"message": "required"})
    wanted = list(dict.fromkeys(str(g) for g in group_ids))
    if not wanted:
        raise ApplicationError("Pick at least one group.", details={"group_ids": "required"})
    groups = list(WhatsAppGroup.objects.filter(organization=organization, id__in=wanted))
    # Community parents are refused here, whatever the page offered (WhatsApp answers 420).
    found = {str(g.id) for g in groups}
    unknown = [g for g in wanted if g not in found]
    if unknown:
        raise ApplicationError("Unknown groups.", details={"group_ids": unknown})
    other_session = [g for g in groups if g.session_id != session.id]
    if other_session:
        raise ApplicationError(
            "Some groups belong to another WhatsApp session: "
            + ", ".join(g.group_name or g.group_jid for g in other_session),
            details={"group_ids": [str(g.id) for g in other_session]},
        )
    parents = [g for g in groups if g.is_community]
    if parents:
        raise ApplicationError(
            "Community parent groups cannot receive messages (WhatsApp rejects them): "
            + ", ".join(g.group_name or g.group_jid for g in parents)
            + ". Pick the community's announcement group or its groups instead.",
            details={"community_parents": [str(g.id) for g in parents]},
        )
    inactive = [g for g in groups if not g.is_active]
    if inactive:
        raise ApplicationError(
            "Some groups are no longer active: "
            + ", ".join(g.group_name or g.group_jid for g in inactive),
            details={"group_ids": [str(g.id) for g in inactive]},
        )

    now = timezone.now()
    when = scheduled_for or now
    user = created_by if getattr(created_by, "pk", None) else None
    with transaction.atomic():
        campaign = NotificationCampaign.objects.create(
            organization=organization,
            session=session,
            name=(name or "").strip()[:200] or _default_name(message),
            message=message,
            status=(
                NotificationCampaign.Status.SCHEDULED
                if when > now
                else NotificationCampaign.Status.SENDING
            ),
            total_groups=len(groups),
            scheduled_for=when,
            created_by=user,
        )
        group_rows = NotificationCampaignGroup.objects.bulk_create(
            [
                NotificationCampaignGroup(
                    campaign=campaign,
                    group=g,
                    group_jid=g.group_jid,
                    group_name=g.group_name,
                    updated_at=now,
                )
                for g in sorted(groups, key=lambda g: (g.group_name.lower(), g.group_jid))
            ]
        )
        ScheduledWhatsAppMessage.objects.bulk_create(
            [
                ScheduledWhatsAppMessage(
                    organization=organization,
                    session=session,
                    recipient_jid=row.group_jid,
                    message=message,
                    scheduled_for=when,
                    next_attempt_at=when,
                    campaign_group=row,
                    created_by=user,
                    updated_at=now,
                )
                for row in group_rows
            ]
        )
        if when <= now:
            kick_dispatch()
    return campaign


def _default_name(message: str) -> str:
    first = message.strip().splitlines()[0]
    return first[:60] + ("…" if len(first) > 60 else "")


def campaign_retry_failed(*, campaign: NotificationCampaign) -> int:
    """Send the failed groups again (new clientMessageIds), never before the campaign's
    `scheduled_for`; cancelled groups stay cancelled. Returns how many were queued."""
    now = timezone.now()
    due = max(now, campaign.scheduled_for)
    with transaction.atomic():
        # Locks in the queue's order (message rows, then the campaign in the recount).
        rows = list(
            ScheduledWhatsAppMessage.objects.select_for_update(of=("self",))
            .filter(campaign_group__campaign_id=campaign.id, status=MessageStatus.FAILED)
            .order_by("id")
        )
        for row in rows:
            requeue_fields(row, now=now, due=due)
        ScheduledWhatsAppMessage.objects.bulk_update(rows, REQUEUE_FIELDS)
        NotificationCampaignGroup.objects.filter(id__in=[r.campaign_group_id for r in rows]).update(
            status=GroupStatus.PENDING,
            message_id="",
            error_message="",
            sent_at=None,
            updated_at=now,
        )
        _campaign_recount(campaign_id=campaign.id, now=now)
        if rows and due <= now:
            kick_dispatch()
    return len(rows)


@dataclass(frozen=True)
class CampaignCancel:
    cancelled: int  # pending groups cancelled now: they will never be sent
    in_flight: int  # groups being sent right now: left to finish
    in_review: int  # groups whose send needs review: left for a person to check

    @property
    def message(self) -> str:
        text = (
            f"{self.cancelled} group{'s' if self.cancelled != 1 else ''} cancelled; "
            "they will not be sent."
            if self.cancelled
            else "No waiting groups to cancel."
        )
        if self.in_flight:
            text += (
                f" {self.in_flight} already being sent "
                f"{'were' if self.in_flight != 1 else 'was'} left to finish."
            )
        if self.in_review:
            text += f" {self.in_review} need{'s' if self.in_review == 1 else ''} review."
        return text


CANCELLED_WITH_CAMPAIGN = "Cancelled with the campaign by staff."


def campaign_cancel(*, campaign: NotificationCampaign) -> CampaignCancel:
    """Cancel the groups of a scheduled or sending campaign that are still waiting.

    Their queue rows become `cancelled` and are never claimed. Rows already claimed or being
    sent are left to finish (a call under way cannot be taken back), and needs_review rows to a
    person; the answer counts both. A finished campaign is refused.
    """
    if campaign.status not in (CampaignStatus.SCHEDULED, CampaignStatus.SENDING):
        raise ApplicationError(
            f"Only a scheduled or sending campaign can be cancelled; this one is "
            f"{campaign.get_status_display()}.",
            details={"status": campaign.status},
        )
    now = timezone.now()
    with transaction.atomic():
        rows = ScheduledWhatsAppMessage.objects.filter(campaign_group__campaign_id=campaign.id)
        # Locks in the queue's order (message rows, then the campaign in the recount). A row a
        # claim holds is waited for, then no longer pending, so it is left alone.
        waiting = list(
            rows.select_for_update(of=("self",))
            .filter(status=MessageStatus.PENDING)
            .order_by("id")
            .values_list("id", "campaign_group_id")
        )
        ScheduledWhatsAppMessage.objects.filter(
            id__in=[row_id for row_id, _ in waiting], status=MessageStatus.PENDING
        ).update(
            status=MessageStatus.CANCELLED,
            error_message=CANCELLED_WITH_CAMPAIGN,
            lease_until=None,
            updated_at=now,
        )
        NotificationCampaignGroup.objects.filter(id__in=[g for _, g in waiting]).update(
            status=GroupStatus.CANCELLED, error_message=CANCELLED_WITH_CAMPAIGN, updated_at=now
        )
        left = rows.aggregate(
            in_flight=Count("id", filter=Q(status=MessageStatus.SENDING)),
            in_review=Count("id", filter=Q(status=MessageStatus.NEEDS_REVIEW)),
        )
        _campaign_recount(campaign_id=campaign.id, now=now)
    return CampaignCancel(
        cancelled=len(waiting), in_flight=left["in_flight"], in_review=left["in_review"]
    )
