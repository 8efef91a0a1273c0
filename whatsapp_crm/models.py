from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from whatsapp_crm.timezones import default_time_zone, validate_time_zone


class Organization(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    # Region for phone numbers typed without a country code; blank = settings.DEFAULT_PHONE_REGION.
    phone_region = models.CharField(
        max_length=2,
        blank=True,
        help_text="ISO country code for phone numbers typed without +country (e.g. DE). "
        "Blank: the DEFAULT_PHONE_REGION setting.",
    )
    # Pages show times in this zone (whatsapp_crm/timezones.py); owners set it on the team page.
    time_zone = models.CharField(
        max_length=64,
        default=default_time_zone,
        validators=[validate_time_zone],
        help_text="IANA time zone name, e.g. Europe/Berlin. Pages show every time in it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "organizations"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_phone_region(self) -> str:
        return (self.phone_region or settings.DEFAULT_PHONE_REGION).upper()


class OrganizationMember(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    # One organization per user: every request resolves to exactly one tenant.
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="organization_membership"
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "organization_members"
        ordering = ["organization__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.role})"


class WebhookEvent(models.Model):
    """Inbox of every webhook received: the record that makes replays harmless."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", "Applied"
        PENDING = "pending", "Kept, waiting for its send to be recorded"
        DUPLICATE = "duplicate", "Duplicate (already applied)"
        REJECTED = "rejected", "Rejected (bad input or unknown session)"
        UNAUTHORIZED = "unauthorized", "Unauthorized"
        ERROR = "error", "Error while applying"

    # Outcomes that "own" an event key: a replay of one of these is a duplicate.
    KEEPING_OUTCOMES = (Outcome.APPLIED, Outcome.PENDING)

    source = models.CharField(max_length=40)
    event_key = models.CharField(
        max_length=200, help_text="The event's id, or sha256 of the raw body when it has none."
    )
    session_id = models.CharField(max_length=200, blank=True)
    # What the event is about, for matching later (e.g. the messageId of a message error).
    reference = models.CharField(max_length=200, blank=True)
    payload = models.JSONField(null=True, blank=True)
    raw_body = models.TextField(blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    detail = models.TextField(blank=True)
    http_status = models.PositiveSmallIntegerField(null=True)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "webhook_events"
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "event_key"],
                condition=models.Q(outcome__in=["applied", "pending"]),
                name="webhook_events_source_event_key_kept_uniq",
            )
        ]
        # Every webhook inserts a row: each index costs every event. Lookups by reference are
        # of pending events only (recording a send finds the events kept for it); by session,
        # the latest events of a session (replays without an `id`).
        indexes = [
            models.Index(
                fields=["source", "outcome"],
                name="webhook_events_pending_idx",
                condition=models.Q(outcome="pending"),
            ),
            models.Index(
                fields=["reference", "session_id"],
                name="webhook_events_pending_ref_idx",
                condition=models.Q(outcome="pending"),
            ),
            models.Index(fields=["session_id", "received_at"], name="webhook_events_session_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.event_key[:16]} {self.outcome}"


class TaskRun(models.Model):
    """Progress and result of a background job, readable by the API (GET /api/tasks/{id}/)."""

    class State(models.TextChoices):
        PENDING = "PENDING", "Queued"
        STARTED = "STARTED", "Running"
        SUCCESS = "SUCCESS", "Finished"
        FAILURE = "FAILURE", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, null=True, blank=True, related_name="task_runs"
    )
    kind = models.CharField(max_length=60)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "task_runs"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} {self.state} {self.done}/{self.total}"


class Heartbeat(models.Model):
    """When a periodic process last did its work (e.g. "beat": the last queue dispatch), so that
    /readyz and the stalled-queue banner can tell a dead beat or broker from a quiet queue."""

    name = models.CharField(max_length=40, primary_key=True)
    at = models.DateTimeField()

    class Meta:
        db_table = "heartbeats"

    def __str__(self) -> str:
        return f"{self.name} at {self.at:%Y-%m-%d %H:%M:%S}"
