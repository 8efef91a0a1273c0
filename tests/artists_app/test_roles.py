"""Roles on artists (INTERFACE.md §6): members read and look up phones; managing artists and
starting member syncs needs an admin. A forbidden action answers 403 and changes nothing."""

from __future__ import annotations

import pytest

from artists_app.models import Artist
from whatsapp_crm.models import TaskRun


@pytest.fixture
def artist(organization):
    return Artist.objects.create(
        organization=organization, name="Nina", whatsapp_group_id="120363000000000001"
    )


def test_a_member_cannot_manage_artists_on_the_page(member_client, artist):
    create = member_client.post(
        "/artists/create/",
        {"name": "X", "whatsapp_group_id": "120363000000000002"},
        HTTP_HX_REQUEST="true",
    )
    update = member_client.post(
        f"/artists/{artist.pk}/update/", {"name": "Changed"}, HTTP_HX_REQUEST="true"
    )
    sync = member_client.post("/artists/sync/", HTTP_HX_REQUEST="true")

    assert (create.status_code, update.status_code, sync.status_code) == (403, 403, 403)
    artist.refresh_from_db()
    assert artist.name == "Nina"
    assert Artist.objects.count() == 1
    assert not TaskRun.objects.exists()


def test_a_member_cannot_manage_artists_through_the_api(member_api, artist):
    create = member_api.post(
        "/api/artists/", {"name": "X", "whatsapp_group_id": "120363000000000002"}, format="json"
    )
    update = member_api.patch(f"/api/artists/{artist.pk}/", {"name": "Y"}, format="json")
    sync = member_api.post("/api/sync-whatsapp-group-members/", {}, format="json")

    assert [r.status_code for r in (create, update, sync)] == [403, 403, 403]
    assert create.json() == {"success": False, "error": create.json()["error"], "details": {}}
    assert "admin" in create.json()["error"]
    artist.refresh_from_db()
    assert artist.name == "Nina"
    assert not TaskRun.objects.exists()


def test_a_member_reads_and_looks_up(member_client, member_api, artist):
    assert member_client.get("/artists/").status_code == 200
    assert member_api.get("/api/artists/").status_code == 200
    assert member_api.get(f"/api/artists/{artist.pk}/").status_code == 200
    lookup = member_api.post(
        "/api/lookup-whatsapp-groups/", {"phone": "+49 151 23456789"}, format="json"
    )
    assert lookup.status_code == 200


def test_the_page_hides_what_a_member_cannot_do(member_client, artist):
    html = member_client.get("/artists/").content.decode()

    assert "Sync all members\n  </button>" not in html
    assert 'hx-post="/artists/sync/"' not in html
    assert 'id="artist-form"' not in html
    assert "Only admins of the organization add or change artists." in html
