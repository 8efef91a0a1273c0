from __future__ import annotations

import secrets
import uuid

from django.db import models

from gateways_app.crypto import EncryptedTextField
from whatsapp_crm.models import Organization


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class WhatsAppGateway(models.Model):
    """A gateway server of one organization (INTERFACE §3 `whatsapp_gateways`).

    Sessions without a gateway use the default gateway of the environment (GATEWAY_BACKEND,
    GATEWAY_URL, GATEWAY_API_KEY). The API key and the webhook secret are stored encrypted
    (gateways_app/crypto.py) and never shown back after creation.
    """

    class Kind(models.TextChoices):
        VPS = "vps", "Our own gateway (VPS protocol)"
        WAHA = "waha", "WAHA"
        EVOLUTION = "evolution", "Evolution API v2"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.PROTECT, related_name="whatsapp_gateways"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    base_url = models.URLField(max_length=500)
    # Sent to the gateway on every call (X-Api-Key for vps and WAHA, apikey for Evolution).
    api_key = EncryptedTextField()
    # What the gateway must send back on its webhooks (X-Api-Key; WAHA's HMAC key too).
    webhook_secret = EncryptedTextField(default=new_webhook_secret)
    # WAHA Core serves one session, named `default`: every session of this gateway maps to it.
    waha_single_session = models.BooleanField(
        default=False,
        help_text="WAHA Core: the server runs only the session named 'default'.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "whatsapp_gateways"
        verbose_name = "WhatsApp gateway"
        ordering = ["name", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"], name="whatsapp_gateways_organization_name_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()}, {self.base_url})"
