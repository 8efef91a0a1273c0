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
