from __future__ import annotations

import uuid

from django.db import models

from whatsapp_crm.models import Organization


class WhatsAppSession(models.Model):
    class Status(models.TextChoices):
        CONNECTING = "connecting", "Connecting"
        CONNECTED = "connected", "Connected"
        DISCONNECTED = "disconnected", "Disconnected"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="whatsapp_sessions"
    )
    # The gateway server this session lives on; NULL = the default gateway of the environment.
    gateway = models.ForeignKey(
        "gateways_app.WhatsAppGateway",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="sessions",
    )
    # The gateway's id for this session, e.g. "wa_3f2a…".
    session_id = models.CharField(max_length=100, unique=True)
    name = models.CharField(max_length=100, blank=True)
    # NULL, not "", when unknown: the (organization, phone_number) constraint ignores NULLs.
    phone_number = models.CharField(max_length=32, null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CONNECTING)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # The gateway's own time of the last status event applied: an older event (gateways deliver
    # out of order) never overwrites a newer state.
    status_reported_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "whatsapp_sessions"
        verbose_name = "WhatsApp session"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "phone_number"],
                name="whatsapp_sessions_organization_id_phone_number_key",
            )
        ]
        indexes = [models.Index(fields=["organization", "status"], name="whatsapp_sess_org_status")]

    def __str__(self) -> str:
        label = self.name or self.session_id
        return f"{label} ({self.phone_number or 'no number'}, {self.status})"
