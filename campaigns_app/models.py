"""The send queue and campaigns (tables of INTERFACE.md §3; mechanism: docs/reliability.md).

`scheduled_whatsapp_messages` is the queue: every send, a single scheduled message or one group of
a campaign, is one row there, and that row (not a broker message) is the truth about what was sent.
A campaign's group row mirrors the status of its queue row, written in the same transaction.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from groups_app.models import WhatsAppGroup
from sessions_app.models import WhatsAppSession
from whatsapp_crm.models import Organization


class NotificationCampaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SCHEDULED = "scheduled", "Scheduled"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        PARTIAL_FAILURE = "partial_failure", "Partly failed"
        FAILED = "failed", "Failed"
        # Staff cancelled it before anything was sent (its counts say what happened otherwise).
        CANCELLED = "cancelled", "Cancelled"

    FINAL_STATUSES = (Status.SENT, Status.PARTIAL_FAILURE, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # PROTECT: campaigns and queue rows are history; deleting their session or organization is
    # refused (admin lists what is in the way) instead of erasing what was sent.
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="campaigns"
    )
    session = models.ForeignKey(WhatsAppSession, on_delete=models.PROTECT, related_name="campaigns")
    name = models.CharField(max_length=200)
    message = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    total_groups = models.PositiveIntegerField(default=0)
    sent_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    # Groups staff cancelled before they were sent: neither sent nor failed.
    cancelled_count = models.PositiveIntegerField(default=0)
    # Delivery receipts (INTERFACE §8): the sums of its groups' counts.
    delivered_count = models.PositiveIntegerField(default=0)
    read_count = models.PositiveIntegerField(default=0)
    scheduled_for = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "notification_campaigns"
        verbose_name = "campaign"
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["organization", "-created_at"], name="notif_campaigns_org_created"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL_STATUSES

    @property
    def pending_count(self) -> int:
        return max(
            0, self.total_groups - self.sent_count - self.failed_count - self.cancelled_count
        )

    @property
    def done_percent(self) -> int:
        if not self.total_groups:
            return 0
        settled = self.sent_count + self.failed_count + self.cancelled_count
        return round(100 * settled / self.total_groups)


class NotificationCampaignGroup(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    campaign = models.ForeignKey(
        NotificationCampaign, on_delete=models.CASCADE, related_name="groups"
    )
    # SET_NULL: a group that disappears from WhatsApp must not erase the campaign's history.
    group = models.ForeignKey(
        WhatsAppGroup, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    group_jid = models.CharField(max_length=100)
    group_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    message_id = models.CharField(max_length=200, blank=True)
    error_message = models.TextField(blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Delivery receipts of its queue row's message, mirrored (campaigns_app/queue/receipts.py).
    delivered_count = models.PositiveIntegerField(default=0)
    read_count = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "notification_campaign_groups"
        verbose_name = "campaign group"
        ordering = ["group_name", "group_jid"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "group_jid"], name="notif_campaign_groups_campaign_jid_uniq"
            )
        ]
        indexes = [
            models.Index(
                fields=["message_id"],
                name="notif_campaign_groups_msg_id",
                condition=~models.Q(message_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group_name or self.group_jid} ({self.status})"


class ScheduledWhatsAppMessage(models.Model):
    """One send through the queue. State machine: docs/reliability.md."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        NEEDS_REVIEW = "needs_review", "Needs review"
        CANCELLED = "cancelled", "Cancelled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="scheduled_messages"
    )
    session = models.ForeignKey(
        WhatsAppSession, on_delete=models.PROTECT, related_name="scheduled_messages"
    )
    recipient_jid = models.CharField(max_length=100)
    message = models.TextField()
    scheduled_for = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    retry_count = models.PositiveIntegerField(default=0)
    error_message = models.TextField(blank=True)
    # The gateway's own error body (JSON text), kept verbatim for operators.
    vps_error = models.TextField(blank=True)
    message_id = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Delivery receipts (INTERFACE §8): distinct participants that received / read the message
    # (read implies delivered) and the first such receipt. Never change `status`.
    delivered_count = models.PositiveIntegerField(default=0)
    read_count = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    # --- mechanism (docs/reliability.md) ---------------------------------------------------------
    # Sent as clientMessageId; the same for every attempt of this row, new on a manual re-send.
    client_message_id = models.UUIDField(default=uuid.uuid4, unique=True)
    # Due when status is pending and next_attempt_at <= now (scheduled_for, later the backoff).
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # Fencing: a claim sets a new claimed_by token and attempt + 1; every later write by the
    # worker matches both, so a reaped or re-claimed row cannot be overwritten by a late worker.
    attempt = models.PositiveIntegerField(default=0)
    claimed_by = models.CharField(max_length=80, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # The slot the per-session rate limit gave this attempt (the worker waits until then).
    send_after = models.DateTimeField(null=True, blank=True)
    # Committed just before the gateway call: NULL means this attempt certainly did not send.
    call_started_at = models.DateTimeField(null=True, blank=True)
    campaign_group = models.OneToOneField(
        NotificationCampaignGroup,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="scheduled_message",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "scheduled_whatsapp_messages"
        verbose_name = "queued message"
        ordering = ["-created_at"]
        indexes = [
            # "Due pending rows": the claim query's only access path.
            models.Index(
                fields=["next_attempt_at"],
                name="sched_msgs_due_idx",
                condition=models.Q(status="pending"),
            ),
            # The reaper's scan of expired claims.
            models.Index(
                fields=["lease_until"],
                name="sched_msgs_lease_idx",
                condition=models.Q(status="sending"),
            ),
            # Late message_error webhooks find their row by the gateway's messageId.
            models.Index(
                fields=["message_id"],
                name="sched_msgs_message_id_idx",
                condition=~models.Q(message_id=""),
            ),
            models.Index(
                fields=["organization", "status", "-created_at"], name="sched_msgs_org_status"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.recipient_jid} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in (self.Status.SENT, self.Status.FAILED, self.Status.CANCELLED)


class QueueSessionState(models.Model):
    """Per-session pacing shared by every worker process: the rate-limit slot, the pause after a
    503 and the gateway outage this session waits out."""

    session = models.OneToOneField(
        WhatsAppSession, on_delete=models.CASCADE, primary_key=True, related_name="queue_state"
    )
    # The earliest time the next send of this session may start (rate limit).
    next_slot_at = models.DateTimeField(null=True, blank=True)
    # After "not connected" answers: no row of this session is claimed before this time, and then
    # only one at a time until a send succeeds.
    paused_until = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # When its gateway became unreachable (connection refused, connect timeout); NULL while it
    # answers. Set on every session of that gateway, cleared by its next answer (queue/outage.py).
    unreachable_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "queue_session_states"
        verbose_name = "queue state of a session"

    def __str__(self) -> str:
        return f"queue state of {self.session_id}"


class WhatsAppMessageReceipt(models.Model):
    """What WhatsApp reported for one participant of one sent message (INTERFACE §8).

    One row per (message, participant, status): a replayed ack inserts nothing. Rows are written
    even before the send is recorded (the ack beat the worker): the queue row's counts are
    computed from these rows when it is (campaigns_app/queue/receipts.py).
    """

    class Status(models.TextChoices):
        DELIVERED = "delivered", "Delivered"
        READ = "read", "Read"
        PLAYED = "played", "Played"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    message_id = models.CharField(max_length=200)
    # The participant's phone digits (or "<id>@lid"); "" for a message to one person.
    participant = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    at = models.DateTimeField()

    class Meta:
        db_table = "whatsapp_message_receipts"
        verbose_name = "message receipt"
        constraints = [
            models.UniqueConstraint(
                fields=["message_id", "participant", "status"],
                name="whatsapp_message_receipts_message_participant_status_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.message_id} {self.participant or '-'} {self.status}"
