"""The team page (owners manage members and roles) and the API token page."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories
from whatsapp_crm.models import OrganizationMember

Role = OrganizationMember.Role
STRONG = "violet-anchor-4817"


def _member(organization, username, role):
    user = factories.user_create(organization=organization, username=username)
    OrganizationMember.objects.filter(user=user).update(role=role)
    return user


@pytest.fixture
def owner_client(client, user):  # factories make `user` an owner
    client.force_login(user)
    return client


def test_an_owner_adds_a_member_who_can_log_in(owner_client, organization, client):
    response = owner_client.post(
        "/settings/team/",
        {"username": "erin", "email": "erin@example.com", "password": STRONG, "role": "admin"},
    )

    assert response.status_code == 302
    membership = OrganizationMember.objects.get(user__username="erin")
    assert (membership.organization, membership.role) == (organization, Role.ADMIN)
    assert get_user_model().objects.get(username="erin").check_password(STRONG)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"username": "erin", "password": "12345678", "role": "member"}, "too common"),
        ({"username": "alice", "password": STRONG, "role": "member"}, "taken"),
        ({"username": "bad name!", "password": STRONG, "role": "member"}, "Letters, digits"),
        ({"username": "erin", "password": STRONG, "role": "emperor"}, "valid choice"),
        ({"username": "erin", "email": "a\x00@b.c", "password": STRONG, "role": "member"}, ""),
        ({"username": "e" * 151, "password": STRONG, "role": "member"}, "at most 150"),
    ],
)
def test_bad_member_input_is_refused_and_changes_nothing(owner_client, data, error):
    users = get_user_model().objects.count()

    response = owner_client.post("/settings/team/", data)

    assert response.status_code == 400
    assert error in response.content.decode()
    assert get_user_model().objects.count() == users


@pytest.mark.parametrize("role", [Role.MEMBER, Role.ADMIN])
def test_only_owners_manage_the_team(client, organization, user, role):
    someone = _member(organization, "frank", role)
    client.force_login(someone)
    target = OrganizationMember.objects.get(user=user)

    assert client.get("/settings/team/").status_code == 403
    add = client.post("/settings/team/", {"username": "x1", "password": STRONG, "role": "owner"})
    promote = client.post(f"/settings/team/{target.pk}/role/", {"role": "member"})
    remove = client.post(f"/settings/team/{target.pk}/remove/")

    assert (add.status_code, promote.status_code, remove.status_code) == (403, 403, 403)
    target.refresh_from_db()
    assert target.role == Role.OWNER
    assert not get_user_model().objects.filter(username="x1").exists()
    assert "Team</a>" not in client.get("/settings/api-token/").content.decode()


def test_an_owner_changes_a_role(owner_client, organization):
    other = _member(organization, "gina", Role.MEMBER)
    membership = OrganizationMember.objects.get(user=other)

    owner_client.post(f"/settings/team/{membership.pk}/role/", {"role": "admin"})

    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_the_last_owner_cannot_be_demoted_or_removed(owner_client, user):
    membership = OrganizationMember.objects.get(user=user)

    owner_client.post(f"/settings/team/{membership.pk}/role/", {"role": "member"})
    owner_client.post(f"/settings/team/{membership.pk}/remove/")

    membership.refresh_from_db()
    assert membership.role == Role.OWNER
    page = owner_client.get("/settings/team/").content.decode()
    assert "last owner" in page


def test_a_removed_member_can_no_longer_log_in_or_use_the_api(owner_client, organization):
    other = _member(organization, "hank", Role.ADMIN)
    token = Token.objects.create(user=other)
    membership = OrganizationMember.objects.get(user=other)

    owner_client.post(f"/settings/team/{membership.pk}/remove/")

    other.refresh_from_db()
    assert not other.is_active
    assert not Token.objects.filter(key=token.key).exists()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api.get("/api/sessions/").status_code == 401


def test_another_organizations_member_is_not_found(owner_client, other_user):
    membership = OrganizationMember.objects.get(user=other_user)

    response = owner_client.post(f"/settings/team/{membership.pk}/role/", {"role": "member"})

    assert response.status_code == 404
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_a_user_creates_sees_once_and_revokes_their_token(client, organization):
    member = _member(organization, "ivy", Role.MEMBER)
    client.force_login(member)

    created = client.post("/settings/api-token/create/")
    key = Token.objects.get(user=member).key

    assert key in created.content.decode()
    assert created["Cache-Control"] == "no-store"
    assert key not in client.get("/settings/api-token/").content.decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api.get("/api/sessions/").status_code == 200

    client.post("/settings/api-token/revoke/")

    assert api.get("/api/sessions/").status_code == 401


def test_a_new_token_replaces_the_old_one(client, organization):
    member = _member(organization, "jay", Role.MEMBER)
    client.force_login(member)
    client.post("/settings/api-token/create/")
    first = Token.objects.get(user=member).key

    client.post("/settings/api-token/create/")

    assert Token.objects.get(user=member).key != first
    assert not Token.objects.filter(key=first).exists()
