"""Managing artists (issue 14): one group per artist (page and API), archive / unarchive /
delete, the artist's own panel, the members CSV, and a sync card that shows the full sync."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from artists_app import services, tasks
from artists_app.models import Artist, ArtistWhatsAppGroupMember
from tests.artists_app.conftest import artist_make
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.models import TaskRun

HX = {"HTTP_HX_REQUEST": "true"}
GROUP = "120363000000000101"  # synced_artist's group


def _no_sync():
    return mock.patch.object(tasks.group_members_sync, "delay")


# --- one group, one artist ---------------------------------------------------------------------


def test_it_refuses_a_group_another_artist_has_in_the_service(organization, synced_artist):
    with pytest.raises(ApplicationError) as refused:
        services.artist_create(organization=organization, name="Copy", whatsapp_group_id=GROUP)
    assert "already belongs to Mira Sol" in refused.value.message
    assert refused.value.details["existing_artist_id"] == str(synced_artist.pk)
    other = artist_make(organization, "Other", "120363000000000999")
    with pytest.raises(ApplicationError):
        services.artist_update(artist=other, whatsapp_group_id=f"{GROUP}@g.us")
    other.refresh_from_db()
    assert other.whatsapp_group_id == "120363000000000999"
    assert Artist.objects.filter(whatsapp_group_id=GROUP).count() == 1


def test_it_refuses_a_group_an_archived_artist_has(organization, synced_artist):
    services.artist_archive(artist=synced_artist)
    with pytest.raises(ApplicationError, match=r"Mira Sol \(archived\)"):
        services.artist_create(organization=organization, name="Copy", whatsapp_group_id=GROUP)


def test_another_organization_may_have_the_same_group(other_organization, synced_artist):
    with _no_sync():
        artist = services.artist_create(
            organization=other_organization, name="Mira", whatsapp_group_id=GROUP
        )
    assert artist.whatsapp_group_id == GROUP


def test_the_page_refuses_a_taken_group_with_a_link_to_the_artist(
    logged_in_client, synced_artist, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = logged_in_client.post(
            "/artists/create/", {"name": "Mira again", "whatsapp_group_id": f"{GROUP}@g.us"}, **HX
        )
    html = response.content.decode()
    assert response.status_code == 400
    assert "already belongs to Mira Sol" in html
    assert f'href="/artists/?artist={synced_artist.pk}#artist-panel"' in html
    assert "Open Mira Sol" in html
    assert "already belongs to Mira Sol" in response.headers["HX-Trigger"]
    assert Artist.objects.count() == 1
    assert callbacks == []


def test_the_edit_form_refuses_a_taken_group_with_a_link(logged_in_client, synced_artist):
    other = artist_make(synced_artist.organization, "Other", "120363000000000999")
    response = logged_in_client.post(
        f"/artists/{other.pk}/update/", {"name": "Other", "whatsapp_group_id": GROUP}, **HX
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="artist-panel"' in html
    assert f"?artist={synced_artist.pk}" in html
    other.refresh_from_db()
    assert other.whatsapp_group_id == "120363000000000999"


def test_the_api_refuses_a_taken_group_with_400(api_client, synced_artist):
    response = api_client.post(
        "/api/artists/", {"name": "Copy", "whatsapp_group_id": GROUP}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert "already belongs to Mira Sol" in body["error"]
    assert body["details"]["existing_artist_id"] == str(synced_artist.pk)

    other = artist_make(synced_artist.organization, "Other", "")
    patch = api_client.patch(
        f"/api/artists/{other.pk}/", {"whatsapp_group_id": GROUP}, format="json"
    )
    assert patch.status_code == 400
    assert Artist.objects.filter(whatsapp_group_id=GROUP).count() == 1


# --- archive, unarchive, delete ----------------------------------------------------------------


def test_archiving_hides_the_artist_from_the_list_and_the_lookup(
    logged_in_client, api_client, synced_artist
):
    response = logged_in_client.post(f"/artists/{synced_artist.pk}/archive/", **HX)
    assert response.status_code == 200
    assert "artistsChanged" in response.headers["HX-Trigger"]
    assert "Mira Sol archived" in response.headers["HX-Trigger"]
    synced_artist.refresh_from_db()
    assert synced_artist.is_archived
    assert synced_artist.group_members.count() == 4  # kept

    table = logged_in_client.get("/artists/table/", **HX).content.decode()
    assert "Mira Sol" not in table
    assert 'Show archived <span class="muted">1</span>' in table
    archived = logged_in_client.get("/artists/?archived=1").content.decode()
    assert 'data-artist="Mira Sol"' in archived
    assert "Archived artists" in archived

    lookup = logged_in_client.post("/artists/lookup/", {"phone": "015123456789"}, **HX)
    assert "Mira Sol" not in lookup.content.decode()
    api = api_client.post("/api/lookup-whatsapp-groups/", {"phone": "015123456789"}, format="json")
    assert api.json()["count"] == 0
    assert [a["name"] for a in api_client.get("/api/artists/").json()["results"]] == []
    health = logged_in_client.get("/artists/health/", **HX).context["health"]
    assert (health["total_members"], health["artists_with_group"]) == (0, 0)


def test_an_archived_artist_is_not_synced(organization, synced_artist):
    artist_make(organization, "Other", "120363000000000999")
    archived = services.artist_archive(artist=synced_artist)
    with _no_sync():
        run = services.group_members_sync_start(organization=organization)
    assert run.total == 1  # only "Other"
    with pytest.raises(ApplicationError, match="archived"):
        services.group_members_sync_start(organization=organization, artist=archived)


def test_unarchiving_brings_it_back_and_queues_a_sync(
    logged_in_client, synced_artist, django_capture_on_commit_callbacks
):
    services.artist_archive(artist=synced_artist)
    with _no_sync() as delay, django_capture_on_commit_callbacks(execute=True):
        response = logged_in_client.post(f"/artists/{synced_artist.pk}/unarchive/", **HX)
    assert response.status_code == 200
    assert "syncStarted" in response.headers["HX-Trigger"]
    assert delay.call_count == 1
    synced_artist.refresh_from_db()
    assert not synced_artist.is_archived
    lookup = logged_in_client.post("/artists/lookup/", {"phone": "015123456789"}, **HX)
    assert "Mira Sol" in lookup.content.decode()


def test_deleting_removes_the_artist_and_its_members(logged_in_client, synced_artist):
    response = logged_in_client.post(f"/artists/{synced_artist.pk}/delete/", **HX)
    assert response.status_code == 200
    assert "Mira Sol deleted with 4 cached members." in response.headers["HX-Trigger"]
    assert not Artist.objects.exists()
    assert not ArtistWhatsAppGroupMember.objects.exists()
    assert logged_in_client.post(f"/artists/{synced_artist.pk}/delete/", **HX).status_code == 404


def test_a_member_cannot_archive_or_delete(member_client, synced_artist):
    for action in ("archive", "unarchive", "delete"):
        response = member_client.post(f"/artists/{synced_artist.pk}/{action}/", **HX)
        assert response.status_code == 403
    synced_artist.refresh_from_db()
    assert not synced_artist.is_archived
    assert synced_artist.group_members.count() == 4
    panel = member_client.get(f"/artists/{synced_artist.pk}/", **HX).content.decode()
    assert "/archive/" not in panel and "/delete/" not in panel
    assert "Download CSV" in panel  # reading is for everyone


def test_another_organization_cannot_touch_the_artist(client, other_user, synced_artist):
    client.force_login(other_user)
    for action in ("archive", "unarchive", "delete"):
        assert client.post(f"/artists/{synced_artist.pk}/{action}/", **HX).status_code == 404
    assert client.get(f"/artists/{synced_artist.pk}/").status_code == 404
    assert client.get(f"/artists/{synced_artist.pk}/members.csv").status_code == 404
    assert Artist.objects.filter(pk=synced_artist.pk, archived_at=None).exists()


def test_the_cleanup_keeps_archived_artists_members(organization, make_members, is_postgres):
    old = timezone.now() - timedelta(days=30)
    archived = artist_make(organization, "Archived", "120363000000000801")
    active = artist_make(organization, "Active", "120363000000000802")
    make_members(archived, ["4915100000011"], synced_at=old)
    make_members(active, ["4915100000012"], synced_at=old)
    services.artist_archive(artist=archived)
    assert services.group_members_cleanup_stale(days=7) == 1
    assert list(ArtistWhatsAppGroupMember.objects.values_list("artist__name", flat=True)) == [
        "Archived"
    ]
    if is_postgres:
        make_members(active, ["4915100000013"], synced_at=old)
        with connection.cursor() as cursor:
            cursor.execute("SELECT cleanup_stale_whatsapp_cache()")
            assert cursor.fetchone()[0] == 1
        assert ArtistWhatsAppGroupMember.objects.count() == 1


# --- the artist's panel and the CSV ------------------------------------------------------------


def test_the_panel_shows_members_outside_the_table(logged_in_client, synced_artist):
    table = logged_in_client.get("/artists/table/", **HX).content.decode()
    assert 'table class="members"' not in table
    assert f'hx-get="/artists/{synced_artist.pk}/"' in table
    panel = logged_in_client.get(f"/artists/{synced_artist.pk}/", **HX).content.decode()
    assert 'id="artist-panel"' in panel
    assert "+49 1512 3456789" in panel
    assert "4 cached members" in panel
    assert f"/artists/{synced_artist.pk}/members.csv" in panel
    page = logged_in_client.get(f"/artists/?artist={synced_artist.pk}").content.decode()
    assert 'data-artist-id="' + str(synced_artist.pk) + '" data-swap-400' in page
    closed = logged_in_client.get("/artists/panel/", **HX).content.decode()
    assert closed.strip() == '<div id="artist-panel"></div>'


def _csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_it_exports_an_artists_members_as_csv(logged_in_client, synced_artist):
    response = logged_in_client.get(f"/artists/{synced_artist.pk}/members.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="mira-sol-members.csv"' in response["Content-Disposition"]
    rows = _csv_rows(response)
    assert rows[0] == [
        "artist",
        "whatsapp_group_id",
        "whatsapp_group_name",
        "member_phone",
        "privacy_id",
        "rank",
        "last_synced_at",
        "sync_status",
    ]
    assert len(rows) == 5
    assert rows[1][:6] == ["Mira Sol", GROUP, "Mira Sol – Fans", "4915123456789", "", "creator"]
    assert rows[-1][3:5] == ["", "123456789012345@lid"]


def test_the_csv_is_safe_against_formulas(logged_in_client, organization, make_members):
    artist = artist_make(organization, '=HYPERLINK("http://evil")', "120363000000000901")
    make_members(artist, ["4915100000021"])
    ArtistWhatsAppGroupMember.objects.filter(artist=artist).update(
        whatsapp_group_name="+SUM(A1:A9)", member_wa_id="@evil"
    )
    ArtistWhatsAppGroupMember.objects.create(
        artist=artist,
        whatsapp_group_id=artist.whatsapp_group_id,
        whatsapp_group_name="-2+3",
        member_phone=None,
        member_wa_id="-cmd|' /C calc'!A0",
        last_synced_at=timezone.now(),
    )
    rows = _csv_rows(logged_in_client.get(f"/artists/{artist.pk}/members.csv"))
    cells = [cell for row in rows[1:] for cell in row]
    assert '\'=HYPERLINK("http://evil")' in cells
    assert "'+SUM(A1:A9)" in cells
    assert "'-2+3" in cells
    assert "'-cmd|' /C calc'!A0" in cells
    for cell in cells:
        assert not cell.startswith(("=", "+", "-", "@")), cell


# --- the sync card -----------------------------------------------------------------------------


def _finished_run(organization, *, artist=None, name="all"):
    run = TaskRun.objects.create(
        organization=organization,
        kind=services.SYNC_TASK_KIND,
        state=TaskRun.State.SUCCESS,
        total=1,
        done=1,
        params={"artist_id": str(artist.pk) if artist else None},
        result={
            "success_count": 1,
            "fail_count": 0,
            "results": [{"name": name, "status": "success"}],
        },
    )
    return run


def test_the_sync_card_shows_the_full_sync_not_an_old_one_artist_run(
    logged_in_client, organization, synced_artist
):
    TaskRun.objects.all().delete()
    full = _finished_run(organization, name="everyone")
    one = _finished_run(organization, artist=synced_artist, name="Mira Sol")
    html = logged_in_client.get("/artists/").content.decode()
    assert "Sync of all artists" in html
    assert "Sync of Mira Sol" not in html

    # Polling the one-artist run as it finishes: a toast names it, the card goes back.
    response = logged_in_client.get(f"/artists/sync/progress/?run={one.pk}", **HX)
    assert "Member sync of Mira Sol finished: 1 synced, 0 failed." in response.headers["HX-Trigger"]
    assert "Sync of all artists" in response.content.decode()
    assert str(full.pk) != str(one.pk)


def test_the_sync_card_shows_a_one_artist_run_while_it_runs(
    logged_in_client, organization, synced_artist
):
    TaskRun.objects.all().delete()
    _finished_run(organization)
    with _no_sync():
        services.group_members_sync_start(organization=organization, artist=synced_artist)
    html = logged_in_client.get("/artists/").content.decode()
    assert "Sync of Mira Sol" in html
    assert 'hx-trigger="every 1s"' in html
