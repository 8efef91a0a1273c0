"""The Artists page and its htmx partials."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from artists_app import services, tasks
from artists_app.models import Artist
from tests.artists_app.conftest import artist_make
from whatsapp_crm.models import TaskRun

HX = {"HTTP_HX_REQUEST": "true"}


def test_it_shows_the_artists_their_groups_and_the_cache_health(logged_in_client, synced_artist):
    artist_make(synced_artist.organization, "Never Synced", "120363000000000111")
    response = logged_in_client.get("/artists/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Mira Sol" in html
    assert "Mira Sol – Fans" in html
    assert "120363000000000101" in html
    assert "1 privacy id" in html
    assert "Never Synced" in html
    assert 'hx-trigger="input changed delay:250ms' in html
    health = response.context["health"]
    assert health["total_members"] == 4
    assert health["phone_members"] == 3
    assert health["artists_with_cache"] == 1
    assert health["artists_with_group"] == 2
    assert health["without_members"] == 1
    assert health["not_synced_24h"] == 1
    assert health["failed_syncs"] == 0


def test_it_counts_failed_and_stale_artists_in_the_health_panel(
    logged_in_client, organization, make_members
):
    long_ago = timezone.now() - timedelta(days=2)
    failed = artist_make(organization, "Failed", "120363000000000121")
    Artist.objects.filter(pk=failed.pk).update(
        member_sync_status="failed", member_sync_error="boom", last_member_sync_at=long_ago
    )
    make_members(failed, ["4915100000001"], synced_at=long_ago)
    health = logged_in_client.get("/artists/health/", **HX).context["health"]
    assert health["failed_syncs"] == 1
    assert health["not_synced_24h"] == 1
    assert health["oldest_sync"] == long_ago


def test_it_never_shows_another_organizations_artists(client, other_user, synced_artist):
    client.force_login(other_user)
    html = client.get("/artists/").content.decode()
    assert "Mira Sol" not in html
    assert client.get(f"/artists/{synced_artist.pk}/members/").status_code == 404
    response = client.post("/artists/lookup/", {"phone": "015123456789"}, **HX)
    assert "Mira Sol" not in response.content.decode()


@pytest.mark.parametrize("phone", ["015123456789", "+49 (151) 234-56789", "0049 151 23456789"])
def test_it_finds_the_artist_from_the_lookup_box(logged_in_client, synced_artist, phone):
    response = logged_in_client.post("/artists/lookup/", {"phone": phone}, **HX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "Mira Sol" in html
    assert "+49 1512 3456789" in html
    assert "creator" in html


def test_it_explains_a_lookup_that_is_no_phone_number(logged_in_client, synced_artist):
    response = logged_in_client.post("/artists/lookup/", {"phone": "hello"}, **HX)
    assert response.status_code == 200  # htmx swaps only 2xx: the error is shown in place
    assert "is not a phone number" in response.content.decode()


def test_it_says_when_nobody_has_the_number(logged_in_client, synced_artist):
    response = logged_in_client.post("/artists/lookup/", {"phone": "+49 170 0000000"}, **HX)
    assert "No artist" in response.content.decode()


def test_it_adds_an_artist_from_the_form_and_queues_its_sync(
    logged_in_client, organization, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(tasks.group_members_sync, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = logged_in_client.post(
            "/artists/create/", {"name": "Lena", "whatsapp_group_id": "120363000000000131"}, **HX
        )
    assert response.status_code == 200
    assert "artistsChanged" in response.headers["HX-Trigger"]
    assert "syncStarted" in response.headers["HX-Trigger"]
    artist = Artist.objects.get(organization=organization, name="Lena")
    run = TaskRun.objects.get(params={"artist_id": str(artist.pk)})
    delay.assert_called_once_with(str(run.pk))


def test_it_shows_form_errors_in_place(logged_in_client):
    response = logged_in_client.post(
        "/artists/create/", {"name": "Lena", "whatsapp_group_id": "nope"}, **HX
    )
    assert response.status_code == 400  # the form swaps a 400 in (hx-on::before-swap)
    assert "is not a WhatsApp group id" in response.content.decode()
    assert 'value="nope"' in response.content.decode()  # what was typed stays
    assert "is not a WhatsApp group id" in response.headers["HX-Trigger"]
    assert not Artist.objects.exists()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"name": "Le\x00na", "whatsapp_group_id": ""}, "Null characters are not allowed"),
        ({"name": "Lena", "whatsapp_group_id": "120363\x00"}, "Null characters are not allowed"),
        ({"name": "x" * 201, "whatsapp_group_id": ""}, "at most 200 characters"),
        ({"name": "Lena", "whatsapp_group_id": "1" * 121}, "at most 120 characters"),
        ({"name": "   ", "whatsapp_group_id": ""}, "The artist needs a name."),
    ],
)
def test_it_refuses_bad_input_to_the_artist_form_and_writes_nothing(
    logged_in_client, organization, data, error, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = logged_in_client.post("/artists/create/", data, **HX)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert error in response.headers["HX-Trigger"]
    assert Artist.objects.count() == 0
    assert TaskRun.objects.count() == 0
    assert callbacks == []


@pytest.mark.parametrize(
    "data",
    [
        {"name": "Mi\x00ra", "whatsapp_group_id": "120363000000000141"},
        {"name": "", "whatsapp_group_id": "120363000000000141"},
        {"name": "Mira", "whatsapp_group_id": "120363000000000141\x00"},
        {"name": "Mira", "whatsapp_group_id": "nope"},
    ],
)
def test_it_refuses_bad_input_to_the_edit_form_and_changes_nothing(
    logged_in_client, synced_artist, data, django_capture_on_commit_callbacks
):
    before = Artist.objects.values().get(pk=synced_artist.pk)
    with django_capture_on_commit_callbacks() as callbacks:
        response = logged_in_client.post(f"/artists/{synced_artist.pk}/update/", data, **HX)
    assert response.status_code == 400
    assert '"level": "error"' in response.headers["HX-Trigger"]
    assert Artist.objects.values().get(pk=synced_artist.pk) == before
    assert synced_artist.group_members.count() == 4
    assert TaskRun.objects.count() == 0
    assert callbacks == []


def test_it_keeps_the_name_when_the_edit_sends_only_a_group_id(
    logged_in_client, synced_artist, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(tasks.group_members_sync, "delay"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = logged_in_client.post(
            f"/artists/{synced_artist.pk}/update/",
            {"whatsapp_group_id": "120363000000000151"},
            **HX,
        )
    assert response.status_code == 200
    synced_artist.refresh_from_db()
    assert (synced_artist.name, synced_artist.whatsapp_group_id) == (
        "Mira Sol",
        "120363000000000151",
    )


def test_it_answers_404_for_an_artist_id_that_is_no_uuid(logged_in_client):
    assert logged_in_client.get("/artists/not-a-uuid/members/", **HX).status_code == 404
    response = logged_in_client.post("/artists/0/update/", {"name": "x"}, **HX)
    assert response.status_code == 404
    assert logged_in_client.post("/artists/sync/", {"artist_id": "nope"}, **HX).status_code == 404
    assert not TaskRun.objects.exists()


def test_it_changes_the_group_from_the_page_and_queues_a_sync(
    logged_in_client, synced_artist, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(tasks.group_members_sync, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = logged_in_client.post(
            f"/artists/{synced_artist.pk}/update/",
            {"name": "Mira Sol", "whatsapp_group_id": "120363000000000141"},
            **HX,
        )
    assert response.status_code == 200
    assert "syncStarted" in response.headers["HX-Trigger"]
    assert delay.call_count == 1
    synced_artist.refresh_from_db()
    assert synced_artist.whatsapp_group_id == "120363000000000141"


def test_it_lists_an_artists_members_with_privacy_ids(logged_in_client, synced_artist):
    html = logged_in_client.get(f"/artists/{synced_artist.pk}/members/", **HX).content.decode()
    assert "+49 1512 3456789" in html
    assert "privacy id" in html
    assert "123456789012345@lid" in html


def test_it_starts_a_sync_and_polls_its_progress_until_it_finishes(
    logged_in_client, organization, synced_artist, mocked_gateway
):
    response = logged_in_client.post("/artists/sync/", {}, **HX)
    run = TaskRun.objects.get(kind=services.SYNC_TASK_KIND, state="PENDING")
    html = response.content.decode()
    assert f"?run={run.pk}" in html
    assert 'hx-trigger="every 1s"' in html
    assert "Queued" in html

    TaskRun.objects.filter(pk=run.pk).update(state="STARTED", done=0, total=2)
    html = logged_in_client.get(f"/artists/sync/progress/?run={run.pk}", **HX).content.decode()
    assert "Running" in html
    assert 'hx-trigger="every 1s"' in html

    TaskRun.objects.filter(pk=run.pk).update(
        state="SUCCESS",
        done=2,
        result={
            "total_artists": 2,
            "success_count": 1,
            "fail_count": 1,
            "results": [
                {"artist_id": "x", "name": "Bad", "status": "failed", "members": 3, "error": "gone"}
            ],
        },
    )
    response = logged_in_client.get(f"/artists/sync/progress/?run={run.pk}", **HX)
    html = response.content.decode()
    assert "every 1s" not in html  # polling stops
    assert "Finished" in html
    assert "gone" in html
    assert "3 cached members kept" in html
    assert "artistsChanged" in response.headers["HX-Trigger"]
    assert "1 failed" in response.headers["HX-Trigger"]


def test_it_explains_why_a_sync_cannot_start(logged_in_client, organization):
    response = logged_in_client.post("/artists/sync/", {}, **HX)
    assert response.status_code == 200
    assert "No artist has a WhatsApp group id" in response.headers["HX-Trigger"]


def test_it_answers_404_for_an_unknown_run(logged_in_client):
    assert logged_in_client.get("/artists/sync/progress/?run=nope", **HX).status_code == 404


def test_it_stops_polling_a_run_that_no_worker_picked_up(logged_in_client, synced_artist):
    run = services.group_members_sync_start(organization=synced_artist.organization)
    TaskRun.objects.filter(pk=run.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    html = logged_in_client.get("/artists/").content.decode()
    assert "Is the Celery worker running?" in html
    assert "every 1s" not in html
    # A new request is not swallowed by the stalled run.
    assert services.group_members_sync_start(organization=synced_artist.organization) != run
