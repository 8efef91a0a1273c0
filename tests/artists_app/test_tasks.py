"""Celery entry points (called directly: tests have no worker)."""

from __future__ import annotations

import uuid

from artists_app import tasks
from artists_app.models import Artist
from tests.artists_app.conftest import artist_make
from whatsapp_crm.models import TaskRun


def test_it_syncs_every_organization_daily(organization, other_organization, gateway_simulator):
    artist_make(organization, "A", "120363000000001001")
    artist_make(organization, "B", "120363000000001002")
    artist_make(other_organization, "C", "120363000000001003")
    artist_make(other_organization, "No group", "")

    totals = tasks.group_members_sync_all()

    assert totals == {
        "organizations": 2,
        "total_artists": 3,
        "success_count": 3,
        "fail_count": 0,
    }
    runs = TaskRun.objects.filter(state="SUCCESS", params__trigger="beat")
    assert {run.organization_id for run in runs} == {organization.pk, other_organization.pk}
    assert set(
        Artist.objects.exclude(whatsapp_group_id="").values_list("member_sync_status", flat=True)
    ) == {"success"}


def test_it_carries_on_with_the_other_organizations_when_one_sync_crashes(
    organization, other_organization, gateway_simulator, monkeypatch
):
    from artists_app import member_sync

    artist_make(organization, "A", "120363000000001001")
    artist_make(other_organization, "C", "120363000000001003")
    real_sync = member_sync.group_members_sync

    def sync(*, artists, **kwargs):
        if artists and artists[0].organization_id == organization.pk:
            raise RuntimeError("boom")
        return real_sync(artists=artists, **kwargs)

    monkeypatch.setattr(member_sync, "group_members_sync", sync)

    totals = tasks.group_members_sync_all()

    assert totals["organizations"] == 1 and totals["success_count"] == 1
    assert totals["crashed_organizations"] == [str(organization.pk)]
    failed = TaskRun.objects.get(organization=organization, params__trigger="beat")
    assert failed.state == "FAILURE" and "boom" in failed.error
    ok = TaskRun.objects.get(organization=other_organization, params__trigger="beat")
    assert ok.state == "SUCCESS"


def test_it_ignores_a_run_that_no_longer_exists(db):
    assert tasks.group_members_sync(str(uuid.uuid4())) is None


def test_it_returns_the_summary_without_the_per_artist_results(organization, gateway_simulator):
    from artists_app import services

    artist = artist_make(organization)
    run = services.group_members_sync_start(organization=organization, artist=artist)
    assert tasks.group_members_sync(str(run.pk)) == {
        "total_artists": 1,
        "success_count": 1,
        "fail_count": 0,
    }
