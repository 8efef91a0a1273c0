"""A gateway's API key and webhook secret are stored encrypted; a secret no key can read is
refused clearly instead of being used or overwritten."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import connection, transaction

from gateways_app.clients import gateway_client
from gateways_app.crypto import is_unreadable
from gateways_app.models import WhatsAppGateway
from tests.gateways_app.conftest import WAHA_KEY
from whatsapp_crm.gateway import GatewayError

pytestmark = pytest.mark.django_db


def stored(gateway: WhatsAppGateway) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT api_key, webhook_secret FROM whatsapp_gateways WHERE id = %s",
            [gateway.pk.hex if connection.vendor == "sqlite" else gateway.pk],
        )
        return cursor.fetchone()


def test_it_stores_the_key_and_the_secret_encrypted(waha_gateway):
    api_key, secret = stored(waha_gateway)

    assert WAHA_KEY not in api_key and api_key.startswith("fernet:")
    assert waha_gateway.webhook_secret not in secret and secret.startswith("fernet:")
    fresh = WhatsAppGateway.objects.get(pk=waha_gateway.pk)
    assert (fresh.api_key, fresh.webhook_secret) == (WAHA_KEY, waha_gateway.webhook_secret)
    assert len(fresh.webhook_secret) >= 40


def test_each_gateway_gets_its_own_webhook_secret(waha_gateway, evolution_gateway):
    assert waha_gateway.webhook_secret != evolution_gateway.webhook_secret


def test_a_rotated_secret_key_kept_as_fallback_still_reads_the_secrets(settings, waha_gateway):
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-brand-new-secret-key-for-rotation"

    assert WhatsAppGateway.objects.get(pk=waha_gateway.pk).api_key == WAHA_KEY


def test_configured_keys_rotate_newest_first(settings, waha_gateway):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.GATEWAY_SECRETS_KEYS = [old]
    waha_gateway.save()  # re-encrypted with `old`
    settings.GATEWAY_SECRETS_KEYS = [new, old]

    assert WhatsAppGateway.objects.get(pk=waha_gateway.pk).api_key == WAHA_KEY
    settings.GATEWAY_SECRETS_KEYS = [new]
    assert is_unreadable(WhatsAppGateway.objects.get(pk=waha_gateway.pk).api_key)


def test_an_unreadable_key_is_refused_with_what_to_do(settings, waha_gateway):
    settings.SECRET_KEY = "another-secret-key-without-fallback"

    gateway = WhatsAppGateway.objects.get(pk=waha_gateway.pk)

    assert gateway.api_key == "" and is_unreadable(gateway.api_key)
    with pytest.raises(GatewayError, match="cannot be decrypted") as err:
        gateway_client(gateway)
    assert (err.value.code, err.value.permanent) == ("unauthorized", False)
    with pytest.raises(ValueError, match="set it again"), transaction.atomic():
        gateway.save()
    gateway.api_key = "typed-again"
    gateway.webhook_secret = "new-secret"
    gateway.save()
    assert WhatsAppGateway.objects.get(pk=gateway.pk).api_key == "typed-again"
