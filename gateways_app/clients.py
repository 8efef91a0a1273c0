"""Which gateway a session talks to: `gateway_for(session)` is the one way to get its client.

A session with a gateway row talks to that row's server (kind, base URL, API key, WAHA Core's
single session); a session without one talks to the default gateway of the environment
(GATEWAY_BACKEND, GATEWAY_URL, GATEWAY_API_KEY, WAHA_SINGLE_SESSION). With PUBLIC_BASE_URL set,
the client also carries the receiver WAHA and Evolution must post to (registered when a session is
created): `…/api/webhooks/<kind>/` with WEBHOOK_API_KEY / WEBHOOK_HMAC_SECRET for the default
gateway, `…/api/webhooks/<kind>/<gateway id>/` with the row's webhook secret for a row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.urls import reverse
from django.utils.module_loading import import_string

from gateways_app.crypto import is_unreadable
from gateways_app.models import WhatsAppGateway
from whatsapp_crm.gateway import ADAPTERS, Gateway, GatewayError, WebhookTarget, get_gateway

if TYPE_CHECKING:
    from sessions_app.models import WhatsAppSession

Kind = WhatsAppGateway.Kind
# Kinds whose sessions are told where to post their webhooks (our own gateway is configured on
# the VPS itself, docs/gateway-protocol.md).
RECEIVER_KINDS = (Kind.WAHA, Kind.EVOLUTION)


def default_gateway_kind() -> str:
    return settings.GATEWAY_BACKEND


def receiver_path(kind: str, gateway: WhatsAppGateway | None = None) -> str | None:
    """Our webhook receiver's path for a gateway of `kind` (None: the kind has none)."""
    if kind not in RECEIVER_KINDS:
        return None
    if gateway is None:
        return reverse(f"gateways-api:webhook-{kind}")
    return reverse(f"gateways-api:webhook-{kind}-gateway", kwargs={"gateway_id": gateway.pk})


def receiver_url(kind: str, gateway: WhatsAppGateway | None = None) -> str | None:
    """The receiver's full URL (None without PUBLIC_BASE_URL, or for kinds without one)."""
    path = receiver_path(kind, gateway)
    if not path or not settings.PUBLIC_BASE_URL:
        return None
    return f"{settings.PUBLIC_BASE_URL}{path}"


def webhook_target(gateway: WhatsAppGateway | None) -> WebhookTarget | None:
    """What the gateway must be told at session creation (None: nothing to register)."""
    if gateway is None:
        url = receiver_url(default_gateway_kind())
        if url is None:
            return None
        return WebhookTarget(
            url=url, api_key=settings.WEBHOOK_API_KEY, hmac_key=settings.WEBHOOK_HMAC_SECRET
        )
    url = receiver_url(gateway.kind, gateway)
    if url is None or is_unreadable(gateway.webhook_secret):
        return None
    return WebhookTarget(url=url, api_key=gateway.webhook_secret, hmac_key=gateway.webhook_secret)


def gateway_client(gateway: WhatsAppGateway | None) -> Gateway:
    """The adapter for a gateway row, or for the default gateway (None)."""
    if gateway is None:
        return get_gateway(webhook=webhook_target(None))
    if is_unreadable(gateway.api_key):
        raise GatewayError(
            f"The API key of gateway {gateway.name!r} cannot be decrypted: DJANGO_SECRET_KEY or "
            "GATEWAY_SECRETS_KEYS changed without the old key being kept. Keep the old key "
            "(SECRET_KEY_FALLBACKS / GATEWAY_SECRETS_KEYS), or remove the gateway and add it again.",
            # Like a key the gateway rejects: a configuration mistake, so queued sends wait.
            permanent=False,
            code="unauthorized",
        )
    adapter = ADAPTERS.get(gateway.kind)
    if adapter is None:
        raise GatewayError(
            f"Gateway {gateway.name!r} has an unknown kind {gateway.kind!r}.",
            permanent=True,
            code="misconfigured",
        )
    if isinstance(adapter, str):
        adapter = import_string(adapter)
    options: dict[str, Any] = {
        "base_url": gateway.base_url,
        "api_key": gateway.api_key,
        "webhook": webhook_target(gateway),
    }
    if gateway.kind == Kind.WAHA:
        options["single_session"] = gateway.waha_single_session
    return adapter(**options)


def gateway_for(session: WhatsAppSession) -> Gateway:
    """The client of the gateway `session` belongs to (its row, or the default gateway)."""
    return gateway_client(session.gateway if session.gateway_id else None)


def gateway_key(session: WhatsAppSession) -> Any:
    """What identifies the session's gateway (its row id; None for the default gateway)."""
    return session.gateway_id
