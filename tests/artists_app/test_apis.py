"""JSON API: lookup, artists, sync (INTERFACE.md §6)."""

from __future__ import annotations

from unittest import mock

import pytest

from artists_app import tasks
from artists_app.models import Artist
from tests.artists_app.conftest import artist_make, sync, whapi_body, whapi_group_url
from whatsapp_crm.models import TaskRun

LOOKUP = "/api/lookup-whatsapp-groups/"
SPELLINGS = [
    "+49 151 2345 6789",
    "0049 151 23456789",
    "015123456789",
    "49-151-2345-6789",
    "+49 (151) 234-56789",
]


@pytest.mark.parametrize("phone", SPELLINGS)
def test_it_finds_the_artist_by_every_spelling(api_client, synced_artist, phone):
    response = api_client.post(LOOKUP, {"phone": phone}, format="json")
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "phone": "4915123456789",
        "artists": [
            {
                "id": str(synced_artist.pk),
                "name": "Mira Sol",
                "whatsapp_group_id": "120363000000000101",
                "whatsapp_group_name": "Mira Sol – Fans",
                "member_rank": "creator",
            }
        ],
        "count": 1,
        "cached": True,
    }


def test_it_finds_every_artist_whose_group_has_the_number(api_client, organization, mocked_gateway):
    a = artist_make(organization, "Zed", "120363000000000501")
    b = artist_make(organization, "Abe", "120363000000000502")
    artist_make(organization, "Other", "120363000000000503")
    for artist, rank in ((a, "member"), (b, "admin")):
        mocked_gateway.get(
            whapi_group_url(artist.whatsapp_group_id),
            json=whapi_body(artist.whatsapp_group_id, [("4915123456789", rank)]),
        )
    sync([a, b])
    data = api_client.post(LOOKUP, {"phone": "0151 23456789"}, format="json").json()
    assert data["count"] == 2
    assert [(m["name"], m["member_rank"]) for m in data["artists"]] == [
        ("Abe", "admin"),
        ("Zed", "member"),
    ]


def test_it_answers_an_empty_list_for_an_unknown_number(api_client, synced_artist):
    data = api_client.post(LOOKUP, {"phone": "+49 170 0000000"}, format="json").json()
    assert data == {
        "success": True,
        "phone": "491700000000",
        "artists": [],
        "count": 0,
        "cached": True,
    }


@pytest.mark.parametrize("phone", ["hello", "12", "123456789012345@lid", "+++"])
def test_it_rejects_text_that_is_no_phone_number(api_client, synced_artist, phone):
    response = api_client.post(LOOKUP, {"phone": phone}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert "is not a phone number" in body["error"]


def test_it_requires_a_phone(api_client):
    response = api_client.post(LOOKUP, {}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "phone: This field is required."


def test_it_never_matches_a_privacy_id_member(api_client, synced_artist):
    for text in ("123456789012345@lid", "123456789012345", "+123456789012345"):
        response = api_client.post(LOOKUP, {"phone": text}, format="json")
        assert response.status_code in (200, 400)
        if response.status_code == 200:
            assert response.json()["count"] == 0
    # …but the privacy-id member is still in the cache and listed.
    assert synced_artist.group_members.filter(member_phone=None).count() == 1


def test_it_never_returns_another_organizations_artists(other_api_client, synced_artist):
    data = other_api_client.post(LOOKUP, {"phone": "+4915123456789"}, format="json").json()
    assert data["count"] == 0


def test_it_makes_one_query_and_no_whapi_call_for_a_lookup(
    api_client, synced_artist, mocked_gateway, django_assert_max_num_queries
):
    # Token auth + organization + role (whatsapp_crm/roles.py) + the lookup itself: the lookup
    # is a single query.
    calls_before = len(mocked_gateway.calls)
    with django_assert_max_num_queries(4) as captured:
        api_client.post(LOOKUP, {"phone": "015123456789"}, format="json")
    lookups = [
        q["sql"] for q in captured.captured_queries if "artist_whatsapp_group_members" in q["sql"]
    ]
    assert len(lookups) == 1
    assert "INNER JOIN" in lookups[0]
    assert len(mocked_gateway.calls) == calls_before


def test_it_requires_authentication(client):
    assert client.post(LOOKUP, {"phone": "015123456789"}).status_code in (401, 403)


# --- artists ------------------------------------------------------------------------------------


def test_it_creates_an_artist_and_queues_its_sync_after_commit(
    api_client, organization, django_capture_on_commit_callbacks
):
    with (
        mock.patch.object(tasks.group_members_sync, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True) as callbacks,
    ):
        response = api_client.post(
            "/api/artists/",
            {"name": "Mira Sol", "whatsapp_group_id": "120363000000000101@g.us"},
            format="json",
        )
    assert response.status_code == 201
    body = response.json()
    assert body["whatsapp_group_id"] == "120363000000000101"
    assert body["member_sync_status"] == "pending"
    assert body["member_count"] == 0
    run = TaskRun.objects.get(organization=organization)
    assert (run.state, run.params) == ("PENDING", {"artist_id": body["id"]})
    assert len(callbacks) == 1
    delay.assert_called_once_with(str(run.pk))


def test_it_creates_an_artist_without_group_without_queueing(
    api_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post("/api/artists", {"name": "Solo"}, format="json")
    assert response.status_code == 201
    assert response.json()["member_sync_status"] == "never"
    assert callbacks == []
    assert not TaskRun.objects.exists()


@pytest.mark.parametrize("group_id", ["abc", "120363 123", "http://x"])
def test_it_rejects_a_bad_group_id(api_client, group_id):
    response = api_client.post(
        "/api/artists/", {"name": "X", "whatsapp_group_id": group_id}, format="json"
    )
    assert response.status_code == 400
    assert "is not a WhatsApp group id" in response.json()["error"]
    assert not Artist.objects.exists()


def test_it_queues_a_sync_when_the_group_id_changes(
    api_client, synced_artist, django_capture_on_commit_callbacks
):
    url = f"/api/artists/{synced_artist.pk}/"
    with mock.patch.object(tasks.group_members_sync, "delay") as delay:
        with django_capture_on_commit_callbacks() as callbacks:
            response = api_client.patch(
                url, {"whatsapp_group_id": "120363000000000999"}, format="json"
            )
        delay.assert_not_called()  # nothing is queued before the transaction commits
        assert len(callbacks) == 1
        callbacks[0]()  # the commit
    assert response.status_code == 200
    body = response.json()
    assert body["whatsapp_group_id"] == "120363000000000999"
    assert body["member_sync_status"] == "pending"
    assert body["member_count"] == 0  # the old group's members are not the artist's any more
    run = TaskRun.objects.get(params={"artist_id": str(synced_artist.pk)})
    assert len(callbacks) == 1
    delay.assert_called_once_with(str(run.pk))


def test_it_does_not_queue_a_sync_for_a_rename_or_the_same_group(
    api_client, synced_artist, django_capture_on_commit_callbacks
):
    url = f"/api/artists/{synced_artist.pk}"
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.patch(
            url, {"name": "Mira", "whatsapp_group_id": "120363000000000101@g.us"}, format="json"
        )
    assert response.status_code == 200
    assert response.json()["name"] == "Mira"
    assert response.json()["member_count"] == 4
    assert callbacks == []


def test_it_lists_and_reads_only_the_organizations_artists(
    api_client, other_api_client, synced_artist
):
    listed = api_client.get("/api/artists/").json()
    assert [a["name"] for a in listed["results"]] == ["Mira Sol"]
    assert listed["results"][0]["member_count"] == 4
    assert other_api_client.get("/api/artists/").json()["results"] == []
    url = f"/api/artists/{synced_artist.pk}/"
    assert api_client.get(url).status_code == 200
    assert other_api_client.get(url).status_code == 404
    assert other_api_client.patch(url, {"name": "x"}, format="json").status_code == 404


# --- sync ---------------------------------------------------------------------------------------


def test_it_queues_a_full_sync_and_reports_its_progress(
    api_client, organization, mocked_gateway, django_capture_on_commit_callbacks
):
    a = artist_make(organization, "A", "120363000000000601")
    artist_make(organization, "B", "120363000000000602")
    mocked_gateway.get(
        whapi_group_url(a.whatsapp_group_id), json=whapi_body("a", [("4915123456789", "admin")])
    )
    mocked_gateway.get(whapi_group_url("120363000000000602"), status=503, json={"error": "down"})
    with (
        mock.patch.object(tasks.group_members_sync, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = api_client.post("/api/sync-whatsapp-group-members/", {}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["success"] is True
    assert body["status_url"].endswith(f"/api/tasks/{body['task_id']}/")
    delay.assert_called_once_with(body["task_id"])

    queued = api_client.get(body["status_url"]).json()
    assert queued["state"] == "PENDING"
    assert queued["progress"] == {"done": 0, "total": 2}

    tasks.group_members_sync(body["task_id"])  # what the worker does

    status = api_client.get(body["status_url"]).json()
    assert status["state"] == "SUCCESS"
    assert status["progress"] == {"done": 2, "total": 2}
    result = status["result"]
    assert (result["total_artists"], result["success_count"], result["fail_count"]) == (2, 1, 1)
    assert {r["name"]: r["status"] for r in result["results"]} == {"A": "success", "B": "failed"}
    assert set(result["results"][0]) == {"artist_id", "name", "status", "members", "error"}


def test_it_queues_a_one_artist_sync(api_client, synced_artist, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks():
        response = api_client.post(
            "/api/sync-whatsapp-group-members", {"artist_id": str(synced_artist.pk)}, format="json"
        )
    assert response.status_code == 202
    run = TaskRun.objects.get(pk=response.json()["task_id"])
    assert run.params == {"artist_id": str(synced_artist.pk)}
    assert run.total == 1


def test_it_reuses_a_queued_run_instead_of_queueing_twice(api_client, synced_artist):
    first = api_client.post("/api/sync-whatsapp-group-members/", {}, format="json").json()
    second = api_client.post("/api/sync-whatsapp-group-members/", {}, format="json").json()
    assert first["task_id"] == second["task_id"]


def test_it_answers_404_for_another_organizations_artist(other_api_client, synced_artist):
    response = other_api_client.post(
        "/api/sync-whatsapp-group-members/", {"artist_id": str(synced_artist.pk)}, format="json"
    )
    assert response.status_code == 404


def test_it_explains_when_there_is_nothing_to_sync(api_client):
    response = api_client.post("/api/sync-whatsapp-group-members/", {}, format="json")
    assert response.status_code == 400
    assert "No artist has a WhatsApp group id" in response.json()["error"]


@pytest.mark.parametrize(
    "data",
    [
        {"name": "Mira\x00Sol"},
        {"name": "Mira", "whatsapp_group_id": "120363000000000101\x00"},
        {"name": "x" * 201},
        {"name": "Mira", "whatsapp_group_id": "1" * 121},
    ],
)
def test_it_refuses_bad_input_and_writes_nothing(
    api_client, synced_artist, data, django_capture_on_commit_callbacks
):
    before = Artist.objects.values().get(pk=synced_artist.pk)
    with django_capture_on_commit_callbacks() as callbacks:
        created = api_client.post("/api/artists/", data, format="json")
        patched = api_client.patch(f"/api/artists/{synced_artist.pk}/", data, format="json")
    for response in (created, patched):
        assert response.status_code == 400
        assert response.json()["success"] is False
    assert Artist.objects.count() == 1
    assert Artist.objects.values().get(pk=synced_artist.pk) == before
    assert not TaskRun.objects.exists()
    assert callbacks == []


@pytest.mark.parametrize("artist_id", ["not-a-uuid", "0" * 36, "1", "%00"])
def test_it_answers_404_for_an_artist_id_that_is_no_uuid(api_client, synced_artist, artist_id):
    assert api_client.get(f"/api/artists/{artist_id}/").status_code == 404
    response = api_client.patch(f"/api/artists/{artist_id}", {"name": "x"}, format="json")
    assert response.status_code == 404
    assert Artist.objects.get().name == "Mira Sol"


def test_it_answers_404_for_a_task_id_that_is_no_uuid(api_client):
    assert api_client.get("/api/tasks/not-a-uuid/").status_code == 404
    assert api_client.get("/api/tasks/" + "0" * 36 + "/").status_code == 404
