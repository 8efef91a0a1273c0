"""Another organization's ids answer 404 in the Artists page's htmx partials and the API."""

from __future__ import annotations

import pytest

from artists_app import services
from artists_app.models import Artist, ArtistWhatsAppGroupMember
from whatsapp_crm.models import TaskRun

HX = {"HTTP_HX_REQUEST": "true"}

pytestmark = pytest.mark.django_db


def test_it_answers_404_for_another_organizations_artist_in_the_partials(
    client, other_user, synced_artist
):
    client.force_login(other_user)
    members_before = ArtistWhatsAppGroupMember.objects.filter(artist=synced_artist).count()

    update = client.post(
        f"/artists/{synced_artist.pk}/update/",
        {"name": "Stolen", "whatsapp_group_id": "120363000000000999"},
        **HX,
    )
    sync = client.post("/artists/sync/", {"artist_id": str(synced_artist.pk)}, **HX)

    assert (update.status_code, sync.status_code) == (404, 404)
    synced_artist.refresh_from_db()
    assert synced_artist.name == "Mira Sol"
    assert synced_artist.whatsapp_group_id == "120363000000000101"
    assert ArtistWhatsAppGroupMember.objects.filter(artist=synced_artist).count() == members_before
    assert not TaskRun.objects.exists()


def test_it_answers_404_for_another_organizations_sync_run(
    client, other_user, api_client, other_api_client, synced_artist
):
    run = services.group_members_sync_start(organization=synced_artist.organization)
    client.force_login(other_user)

    assert client.get(f"/artists/sync/progress/?run={run.pk}", **HX).status_code == 404
    assert other_api_client.get(f"/api/tasks/{run.pk}/").status_code == 404
    assert api_client.get(f"/api/tasks/{run.pk}/").status_code == 200
    # The latest run shown to the other organization is never this one.
    html = client.get("/artists/sync/progress/", **HX).content.decode()
    assert str(run.pk) not in html


def test_it_creates_artists_only_in_the_users_organization(other_api_client, synced_artist):
    response = other_api_client.post(
        "/api/artists/", {"name": "Own artist", "whatsapp_group_id": ""}, format="json"
    )
    assert response.status_code == 201
    created = Artist.objects.get(pk=response.json()["id"])
    assert created.organization_id != synced_artist.organization_id
