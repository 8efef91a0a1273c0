from __future__ import annotations

import uuid
from datetime import datetime

from django.db import models

from whatsapp_crm.models import Organization


class NamedIndex(models.Index):
    """An index whose name is fixed by INTERFACE.md §3 (Postgres allows 63 characters; Django's
    portable default is 30, for Oracle, which we do not use)."""

    max_name_length = 63


class Artist(models.Model):
    """An artist and the WhatsApp group of their fans/crew, whose members we cache."""

    class SyncStatus(models.TextChoices):
        NEVER = "never", "Never synced"
        PENDING = "pending", "Sync queued"
        SUCCESS = "success", "Synced"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="artists")
    name = models.CharField(max_length=200)
    whatsapp_group_id = models.CharField(
        max_length=100,
        blank=True,
        help_text='The WhatsApp group id without "@g.us", e.g. 120363012345678901.',
    )
    # The per-artist sync record: also there for artists that have no cached member rows yet.
    whatsapp_group_name = models.CharField(max_length=255, blank=True)
    member_sync_status = models.CharField(
        max_length=10, choices=SyncStatus.choices, default=SyncStatus.NEVER
    )
    member_sync_error = models.TextField(blank=True)
    last_member_sync_at = models.DateTimeField(
        null=True, blank=True, help_text="Last successful member sync."
    )
    member_sync_attempted_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sync attempt, successful or not."
    )
    # Archived artists leave the list, the lookup and the nightly sync; their cached members stay
    # (the stale-cache cleanup skips them) until they are unarchived or deleted.
    archived_at = models.DateTimeField(null=True, blank=True)
    # When a group-participants webhook last changed the cached members (artists_app/member_events.py).
    members_live_changed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "artists"
        ordering = ["name"]
        indexes = [models.Index(fields=["organization", "name"], name="artists_org_name_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def live_member_change_at(self) -> datetime | None:
        """When a webhook last changed the cached members, if after the last full sync."""
        changed = self.members_live_changed_at
        if changed is None or (self.last_member_sync_at and changed <= self.last_member_sync_at):
            return None
        return changed

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class ArtistWhatsAppGroupMember(models.Model):
    """One cached member of an artist's WhatsApp group (replaced as a whole set on every sync).

    `member_phone` holds the digits of the international number (artists_app.phones). Members
    that WHAPI shows only by a privacy id ("…@lid") have no phone: their `member_phone` is NULL,
    which the unique constraint allows any number of times and no lookup ever matches;
    `member_wa_id` keeps the id WHAPI gave so they stay visible.
    """

    class Rank(models.TextChoices):
        CREATOR = "creator", "Creator"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    class SyncStatus(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILED = "failed", "Failed"
        PENDING = "pending", "Pending"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # db_index=False: the index is the named idx_whatsapp_members_artist_id below.
    artist = models.ForeignKey(
        Artist, on_delete=models.CASCADE, related_name="group_members", db_index=False
    )
    whatsapp_group_id = models.CharField(max_length=100)
    whatsapp_group_name = models.CharField(max_length=255, blank=True)
    member_phone = models.CharField(max_length=20, null=True, blank=True)
    member_wa_id = models.CharField(
        max_length=100, help_text='The participant id WHAPI gave ("4915…" or "…@lid").'
    )
    member_rank = models.CharField(max_length=10, choices=Rank.choices, default=Rank.MEMBER)
    last_synced_at = models.DateTimeField()
    sync_status = models.CharField(
        max_length=10, choices=SyncStatus.choices, default=SyncStatus.SUCCESS
    )
    sync_error = models.TextField(blank=True)

    class Meta:
        db_table = "artist_whatsapp_group_members"
        ordering = ["artist", "member_phone"]
        constraints = [
            models.UniqueConstraint(
                fields=["artist", "member_phone"],
                name="artist_whatsapp_group_members_artist_id_member_phone_key",
            ),
            models.UniqueConstraint(
                fields=["artist", "member_wa_id"],
                name="artist_whatsapp_group_members_artist_id_member_wa_id_key",
            ),
        ]
        indexes = [
            models.Index(fields=["artist"], name="idx_whatsapp_members_artist_id"),
            models.Index(fields=["member_phone"], name="idx_whatsapp_members_phone"),
            models.Index(fields=["whatsapp_group_id"], name="idx_whatsapp_members_group_id"),
            NamedIndex(fields=["last_synced_at"], name="idx_whatsapp_members_last_synced"),
        ]
        verbose_name = "cached group member"

    def __str__(self) -> str:
        return f"{self.member_phone or self.member_wa_id} in {self.whatsapp_group_id}"

    @property
    def has_phone(self) -> bool:
        return bool(self.member_phone)
