"""The organization's team and each user's API token (writes; INTERFACE.md §6 roles).

Owners add staff, change roles and remove members here instead of in Django admin. An
organization always keeps at least one owner. Each user creates, sees once and revokes their own
API token (DRF's authtoken: `Authorization: Token <key>`).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from rest_framework.authtoken.models import Token

from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.models import Organization, OrganizationMember

Role = OrganizationMember.Role


def member_add(
    *, organization: Organization, username: str, email: str, password: str, role: str
) -> OrganizationMember:
    """A new login for the organization with the given role (usernames are global)."""
    User = get_user_model()
    if role not in Role.values:
        raise ApplicationError("Unknown role.", details={"role": [f"One of {Role.values}."]})
    if User.objects.filter(username__iexact=username).exists():
        raise ApplicationError(
            f"The username {username!r} is taken.",
            details={"username": ["This username is taken."]},
        )
    candidate = User(username=username, email=email)
    try:
        validate_password(password, user=candidate)
    except ValidationError as exc:
        raise ApplicationError(
            "The password is too weak: " + " ".join(exc.messages),
            details={"password": exc.messages},
        )
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email, password=password)
        return OrganizationMember.objects.create(organization=organization, user=user, role=role)


def member_set_role(*, membership: OrganizationMember, role: str) -> OrganizationMember:
    if role not in Role.values:
        raise ApplicationError("Unknown role.", details={"role": [f"One of {Role.values}."]})
    with transaction.atomic():
        _lock_owners(membership.organization)
        if membership.role == Role.OWNER and role != Role.OWNER:
            _refuse_last_owner(membership, "change the role of")
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def member_remove(*, membership: OrganizationMember) -> None:
    """The user leaves the organization: login disabled, API token revoked (their sent messages
    and campaigns stay, as history)."""
    with transaction.atomic():
        _lock_owners(membership.organization)
        if membership.role == Role.OWNER:
            _refuse_last_owner(membership, "remove")
        user = membership.user
        Token.objects.filter(user=user).delete()
        membership.delete()
        user.is_active = False
        user.save(update_fields=["is_active"])


def _lock_owners(organization: Organization) -> None:
    # Two owners demoting each other at once must not leave the organization without one.
    list(
        OrganizationMember.objects.select_for_update()
        .filter(organization=organization, role=Role.OWNER)
        .values_list("pk", flat=True)
    )


def _refuse_last_owner(membership: OrganizationMember, verb: str) -> None:
    owners = OrganizationMember.objects.filter(
        organization_id=membership.organization_id, role=Role.OWNER
    )
    if not owners.exclude(pk=membership.pk).exists():
        raise ApplicationError(
            f"You cannot {verb} the last owner: make someone else an owner first."
        )


@dataclass(frozen=True)
class NewToken:
    key: str  # shown once, right after creation


def api_token_create(*, user: object) -> NewToken:
    """A fresh token for `user`, replacing any earlier one (which stops working at once)."""
    with transaction.atomic():
        Token.objects.filter(user=user).delete()
        token = Token.objects.create(user=user)
    return NewToken(key=token.key)


def api_token_revoke(*, user: object) -> bool:
    deleted, _ = Token.objects.filter(user=user).delete()
    return bool(deleted)
