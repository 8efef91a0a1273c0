"""Gateway rows for the gateways tests: one WAHA and one Evolution API server of the organization,
and one of another organization. Their HTTP is answered by the root `mocked_gateway`."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from gateways_app import services
from gateways_app.models import WhatsAppGateway

WAHA_URL = "http://waha.test:3000"
EVOLUTION_URL = "http://evolution.test:8080"
OTHER_URL = "http://other.test"
WAHA_KEY = "waha-key-7f3a9c"
EVOLUTION_KEY = "evolution-key-41be02"
OTHER_KEY = "other-org-key-9d1f"


def gateway_add(organization, **fields: Any) -> WhatsAppGateway:
    fields.setdefault("name", f"{fields.get('kind', 'vps')} gateway")
    fields.setdefault("kind", "vps")
    fields.setdefault("base_url", "http://vps.test")
    fields.setdefault("api_key", "vps-key")
    return services.gateway_create(organization=organization, **fields)


@pytest.fixture
def waha_gateway(organization) -> WhatsAppGateway:
    return gateway_add(
        organization, name="WAHA Berlin", kind="waha", base_url=WAHA_URL, api_key=WAHA_KEY
    )


@pytest.fixture
def evolution_gateway(organization) -> WhatsAppGateway:
    return gateway_add(
        organization,
        name="Evolution Hamburg",
        kind="evolution",
        base_url=EVOLUTION_URL,
        api_key=EVOLUTION_KEY,
    )


@pytest.fixture
def other_gateway(other_organization) -> WhatsAppGateway:
    return gateway_add(
        other_organization, name="Theirs", kind="waha", base_url=OTHER_URL, api_key=OTHER_KEY
    )


@pytest.fixture
def admin_client(client, admin_role_user):
    client.force_login(admin_role_user)
    return client


@pytest.fixture
def admin_api(admin_role_user) -> APIClient:
    api = APIClient()
    api.force_authenticate(admin_role_user)
    return api


def signed(body: dict[str, Any] | bytes, *, key: str, secret: str | None = None) -> dict[str, Any]:
    """`client.post` keyword arguments for a webhook: the raw body, its key and (with
    `secret`) WAHA's HMAC-SHA512 signature."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    extra: dict[str, Any] = {"data": raw, "content_type": "application/json", "HTTP_X_API_KEY": key}
    if secret:
        extra["HTTP_X_WEBHOOK_HMAC"] = hmac.new(secret.encode(), raw, hashlib.sha512).hexdigest()
        extra["HTTP_X_WEBHOOK_HMAC_ALGORITHM"] = "sha512"
    return extra
