"""Plain factory functions for test data (real rows in the real database)."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from django.contrib.auth import get_user_model

from sessions_app.models import WhatsAppSession
from whatsapp_crm.models import Organization, OrganizationMember

_seq = itertools.count(1)


def organization_create(**kwargs: Any) -> Organization:
    kwargs.setdefault("name", f"Org {next(_seq)}")
    return Organization.objects.create(**kwargs)


def user_create(
    *, organization: Organization | None = None, password: str = "pw-123456", **kwargs: Any
):
    kwargs.setdefault("username", f"user{next(_seq)}")
    user = get_user_model().objects.create_user(password=password, **kwargs)
    if organization is not None:
        OrganizationMember.objects.create(
            organization=organization, user=user, role=OrganizationMember.Role.OWNER
        )
    return user


def session_create(*, organization: Organization, **kwargs: Any) -> WhatsAppSession:
    kwargs.setdefault("session_id", f"wa_{uuid.uuid4().hex[:16]}")
    kwargs.setdefault("status", WhatsAppSession.Status.CONNECTED)
    return WhatsAppSession.objects.create(organization=organization, **kwargs)
