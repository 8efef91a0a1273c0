"""Writes for gateway rows: add, remove, and "Check connection".

A gateway's API key and webhook secret are written once, encrypted (crypto.py); nothing shows
them again except the webhook secret in the answer that created the row (the person adding the
gateway may need it to configure the gateway by hand).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction

from gateways_app.clients import gateway_client
from gateways_app.models import WhatsAppGateway
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.gateway import GatewayError
from whatsapp_crm.models import Organization
from whatsapp_crm.text import db_safe_text

Kind = WhatsAppGateway.Kind


def _clean_base_url(value: str) -> str:
    url = value.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ApplicationError(
            "The base URL must start with http:// or https:// and name a host.",
            details={"base_url": ["The base URL must start with http:// or https://."]},
        )
    if parts.query or parts.fragment:
        raise ApplicationError(
            "The base URL must not have a query or fragment.",
            details={"base_url": ["No ?query or #fragment."]},
        )
    return url


def gateway_create(
    *,
    organization: Organization,
    name: str,
    kind: str,
    base_url: str,
    api_key: str,
    waha_single_session: bool = False,
) -> WhatsAppGateway:
    """Store a new gateway of the organization (with a fresh webhook secret)."""
    name = db_safe_text(name).strip()
    if not name:
        raise ApplicationError("Give the gateway a name.", details={"name": ["Required."]})
    if kind not in Kind.values:
        raise ApplicationError(
            f"Unknown kind {kind!r}.", details={"kind": [f"One of {', '.join(Kind.values)}."]}
        )
    if not api_key.strip():
        raise ApplicationError("The API key is required.", details={"api_key": ["Required."]})
    try:
        with transaction.atomic():
            return WhatsAppGateway.objects.create(
                organization=organization,
                name=name[:100],
                kind=kind,
                base_url=_clean_base_url(base_url),
                api_key=api_key.strip(),
                waha_single_session=bool(waha_single_session) and kind == Kind.WAHA,
            )
    except IntegrityError:
        raise ApplicationError(
            f"A gateway named {name!r} already exists.",
            details={"name": ["Another gateway of the organization has this name."]},
        )


def gateway_delete(*, gateway: WhatsAppGateway) -> None:
    """Remove a gateway no session uses; refused (ApplicationError) while any does."""
    with transaction.atomic():
        locked = WhatsAppGateway.objects.select_for_update().get(pk=gateway.pk)
        count = locked.sessions.count()
        if count:
            raise ApplicationError(
                f"Gateway {locked.name!r} cannot be removed: {count} session(s) belong to it "
                "(logged-out sessions included: they keep the history of what was sent). "
                "Add a new gateway for new numbers instead.",
                details={"sessions": count},
            )
        locked.delete()


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    # ok | unreachable | wrong_key | wrong_kind | unreadable_key | error
    problem: str
    message: str


def gateway_check(*, gateway: WhatsAppGateway | None) -> CheckResult:
    """Call the gateway (a row, or the default gateway) and say what is wrong, if anything."""
    label = gateway.name if gateway is not None else "The default gateway"
    try:
        gateway_client(gateway).check_connection()
    except GatewayError as exc:
        return _check_failure(label, gateway, exc)
    return CheckResult(True, "ok", f"{label} answered with this key: the connection works.")


def _check_failure(label: str, gateway: WhatsAppGateway | None, exc: GatewayError) -> CheckResult:
    base_url = gateway.base_url if gateway is not None else "GATEWAY_URL"
    if exc.code in ("unreachable", "timeout"):
        return CheckResult(False, "unreachable", f"{label} is unreachable: {exc.message}")
    if exc.code == "unauthorized" and exc.status_code is None:
        return CheckResult(False, "unreadable_key", exc.message)
    if exc.code == "unauthorized":
        return CheckResult(
            False,
            "wrong_key",
            f"{label} at {base_url} refused the API key ({exc.status_code}): check the key "
            "(and the kind).",
        )
    if exc.code == "wrong_kind":
        return CheckResult(False, "wrong_kind", f"{label}: {exc.message}")
    return CheckResult(False, "error", f"{label} answered with an error: {exc.message}")
