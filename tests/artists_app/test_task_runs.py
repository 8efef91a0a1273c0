"""Sync runs: the services that write `task_runs` rows and the progress the page shows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from artists_app import selectors, services
from tests.artists_app.conftest import artist_make
from whatsapp_crm.models import TaskRun


def _run(organization, **fields) -> TaskRun:
    run = services.task_run_create(
        organization=organization,
        kind=services.SYNC_TASK_KIND,
        params={"artist_id": None},
        total=fields.pop("total", 0),
    )
    if fields:
        TaskRun.objects.filter(pk=run.pk).update(**fields)
        run.refresh_from_db()
    return run


def test_it_moves_a_run_from_pending_to_success(organization):
    run = _run(organization, total=3)
    assert (run.state, run.done, run.total) == ("PENDING", 0, 3)

    started = services.task_run_start(task_run_id=run.pk)
    assert started.state == "STARTED"
    assert started.organization == organization
    services.task_run_advance(task_run_id=run.pk, total=2)
    services.task_run_advance(task_run_id=run.pk, done=1)
    run.refresh_from_db()
    assert (run.state, run.done, run.total) == ("STARTED", 1, 2)

    services.task_run_finish(task_run_id=run.pk, result={"ok": 2}, done=2)
    run.refresh_from_db()
    assert (run.state, run.done, run.result) == ("SUCCESS", 2, {"ok": 2})


def test_it_clears_an_earlier_attempt_when_a_run_starts_again(organization):
    run = _run(organization, state="FAILURE", done=4, error="boom", result={"x": 1})
    services.task_run_start(task_run_id=run.pk)
    run.refresh_from_db()
    assert (run.state, run.done, run.error, run.result) == ("STARTED", 0, "", None)


def test_it_records_a_failure_with_a_bounded_error(organization):
    run = _run(organization)
    services.task_run_fail(task_run_id=run.pk, error="x" * 5000)
    run.refresh_from_db()
    assert run.state == "FAILURE"
    assert len(run.error) == services.TASK_RUN_ERROR_MAX_CHARS


def test_it_moves_updated_at_on_every_write(organization):
    long_ago = timezone.now() - timedelta(hours=1)
    run = _run(organization, updated_at=long_ago)
    services.task_run_advance(task_run_id=run.pk, done=1)
    run.refresh_from_db()
    assert run.updated_at > long_ago


def test_it_says_when_the_run_to_start_is_gone(db):
    with pytest.raises(TaskRun.DoesNotExist):
        services.task_run_start(task_run_id="00000000-0000-0000-0000-000000000000")


def test_it_records_beat_and_command_runs_with_their_trigger(organization):
    artist = artist_make(organization)
    artist_make(organization, "Other", "120363000000000102")
    artist_make(organization, "No group", "")
    full = services.group_members_sync_record(organization=organization, trigger="beat")
    one = services.group_members_sync_record(
        organization=organization, artist=artist, trigger="command"
    )
    assert (full.state, full.total, full.params) == (
        "PENDING",
        2,
        {"artist_id": None, "trigger": "beat"},
    )
    assert (one.total, one.params) == (1, {"artist_id": str(artist.pk), "trigger": "command"})


# --- the progress panel ----------------------------------------------------------------------


def test_it_shows_no_progress_without_a_run():
    progress = selectors.sync_run_progress(run=None)
    assert (progress.run, progress.active, progress.stalled, progress.percent) == (
        None,
        False,
        False,
        0,
    )


def test_it_shows_a_running_run_as_active_with_its_percentage(organization):
    run = _run(organization, state="STARTED", done=1, total=3)
    progress = selectors.sync_run_progress(run=run)
    assert (progress.active, progress.stalled, progress.percent) == (True, False, 33)
    assert progress.scope == "all artists"


def test_it_shows_a_run_without_progress_for_the_window_as_stalled(organization):
    run = _run(organization, state="PENDING", total=2)
    later = run.updated_at + services.ACTIVE_RUN_WINDOW + timedelta(seconds=1)
    progress = selectors.sync_run_progress(run=run, now=later)
    assert (progress.active, progress.stalled) == (False, True)
    just_in_time = run.updated_at + services.ACTIVE_RUN_WINDOW - timedelta(seconds=1)
    assert selectors.sync_run_progress(run=run, now=just_in_time).active


def test_it_shows_a_finished_run_with_its_failed_artists(organization):
    results = [
        {"artist_id": "a", "name": "Good", "status": "success", "members": 3, "error": None},
        {"artist_id": "b", "name": "Bad", "status": "failed", "members": 2, "error": "gone"},
    ]
    run = _run(organization, state="SUCCESS", done=2, total=2, result={"results": results})
    progress = selectors.sync_run_progress(run=run)
    assert (progress.active, progress.stalled, progress.percent) == (False, False, 100)
    assert [item["name"] for item in progress.failed] == ["Bad"]


def test_it_shows_a_finished_run_of_nothing_as_complete(organization):
    run = _run(organization, state="SUCCESS", done=0, total=0)
    assert selectors.sync_run_progress(run=run).percent == 100


def test_it_names_the_artist_of_a_one_artist_run(organization):
    artist = artist_make(organization)
    run = services.group_members_sync_record(
        organization=organization, artist=artist, trigger="command"
    )
    assert selectors.sync_run_progress(run=run).scope == "Mira Sol"
    TaskRun.objects.filter(pk=run.pk).update(params={"artist_id": "not-a-uuid"})
    run.refresh_from_db()
    assert selectors.sync_run_progress(run=run).scope == "one artist"
