from __future__ import annotations

import uuid

from django.db import models

from sessions_app.models import WhatsAppSession
from whatsapp_crm.models import Organization


class WhatsAppGroup(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="whatsapp_groups"
    )
    session = models.ForeignKey(WhatsAppSession, on_delete=models.CASCADE, related_name="groups")
    group_jid = models.CharField(max_length=100)
    group_name = models.CharField(max_length=255, blank=True)
    participant_count = models.PositiveIntegerField(default=0)
    is_community = models.BooleanField(default=False)
    is_community_announce = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "whatsapp_groups"
        verbose_name = "WhatsApp group"
        ordering = ["group_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "group_jid"], name="whatsapp_groups_session_id_group_jid_key"
            )
        ]
        indexes = [
            models.Index(fields=["organization", "group_jid"], name="whatsapp_groups_org_jid"),
        ]

    def __str__(self) -> str:
        return f"{self.group_name or self.group_jid}"
