"""Admin: phone search in any spelling, filters, and the "sync members now" action."""

from __future__ import annotations

from unittest import mock

import pytest
from django.contrib.auth import get_user_model

from artists_app import tasks
from artists_app.models import Artist
from tests import factories
from tests.artists_app.conftest import artist_make
from whatsapp_crm.models import TaskRun


@pytest.fixture
def superuser_client(client, organization):
    """A logged-in superuser (named apart from pytest-django's `admin_client`)."""
    user = factories.user_create(organization=organization, username="root")
    get_user_model().objects.filter(pk=user.pk).update(is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_it_finds_cached_members_by_any_spelling_of_a_phone(superuser_client, synced_artist):
    url = "/admin/artists_app/artistwhatsappgroupmember/"
    for term in ("0151 2345 6789", "+49 (151) 234-56789", "4915123456789"):
        response = superuser_client.get(url, {"q": term})
        assert response.status_code == 200
        rows = list(response.context["cl"].result_list)
        assert [row.member_phone for row in rows] == ["4915123456789"], term


def test_it_finds_artists_by_a_members_phone(superuser_client, synced_artist):
    artist_make(synced_artist.organization, "Someone else", "120363000000000151")
    response = superuser_client.get("/admin/artists_app/artist/", {"q": "0151 23456789"})
    assert [a.name for a in response.context["cl"].result_list] == ["Mira Sol"]


@pytest.mark.parametrize("staleness", ["24h", "stale24h", "no_members"])
def test_it_filters_artists_by_staleness(superuser_client, synced_artist, staleness):
    never = artist_make(synced_artist.organization, "Never", "120363000000000161")
    response = superuser_client.get("/admin/artists_app/artist/", {"staleness": staleness})
    names = {a.name for a in response.context["cl"].result_list}
    expected = {"24h": {synced_artist.name}, "stale24h": {never.name}, "no_members": {never.name}}
    assert names == expected[staleness]


def test_it_filters_members_by_sync_status(superuser_client, synced_artist):
    response = superuser_client.get(
        "/admin/artists_app/artistwhatsappgroupmember/", {"sync_status__exact": "failed"}
    )
    assert list(response.context["cl"].result_list) == []


def test_it_queues_a_sync_with_the_admin_action(
    superuser_client, synced_artist, django_capture_on_commit_callbacks
):
    no_group = artist_make(synced_artist.organization, "No group", "")
    with (
        mock.patch.object(tasks.group_members_sync, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = superuser_client.post(
            "/admin/artists_app/artist/",
            {
                "action": "sync_members_now",
                "_selected_action": [str(synced_artist.pk), str(no_group.pk)],
            },
            follow=True,
        )
    messages = [str(m) for m in response.context["messages"]]
    assert any("queued for 1 artist" in m for m in messages)
    assert any("has no WhatsApp group id" in m for m in messages)
    run = TaskRun.objects.get(params={"artist_id": str(synced_artist.pk)})
    delay.assert_called_once_with(str(run.pk))


def test_it_queues_a_sync_when_the_group_changes_in_the_admin(
    superuser_client, synced_artist, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(tasks.group_members_sync, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = superuser_client.post(
            f"/admin/artists_app/artist/{synced_artist.pk}/change/",
            {
                "organization": str(synced_artist.organization_id),
                "name": "Mira Sol",
                "whatsapp_group_id": "120363000000000171@g.us",
            },
        )
    assert response.status_code == 302
    synced_artist.refresh_from_db()
    assert synced_artist.whatsapp_group_id == "120363000000000171"
    assert synced_artist.group_members.count() == 0
    assert delay.call_count == 1


def test_it_creates_an_artist_in_the_admin_through_the_service(
    superuser_client, organization, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(tasks.group_members_sync, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = superuser_client.post(
            "/admin/artists_app/artist/add/",
            {
                "organization": str(organization.pk),
                "name": "New",
                "whatsapp_group_id": "120363000000000181",
            },
        )
    assert response.status_code == 302
    assert Artist.objects.filter(name="New", member_sync_status="pending").count() == 1
    assert delay.call_count == 1


def test_it_shows_a_bad_group_id_as_a_form_error_in_the_admin(superuser_client, organization):
    response = superuser_client.post(
        "/admin/artists_app/artist/add/",
        {"organization": str(organization.pk), "name": "New", "whatsapp_group_id": "nope"},
    )
    assert response.status_code == 200
    assert "is not a WhatsApp group id" in response.content.decode()


def test_it_refuses_a_nul_byte_in_the_admin_and_writes_nothing(superuser_client, organization):
    response = superuser_client.post(
        "/admin/artists_app/artist/add/",
        {"organization": str(organization.pk), "name": "N\x00ew", "whatsapp_group_id": ""},
    )
    assert response.status_code == 200  # the admin shows its form again, with the error
    assert "Null characters are not allowed" in response.content.decode()
    assert Artist.objects.count() == 0
    assert TaskRun.objects.count() == 0
