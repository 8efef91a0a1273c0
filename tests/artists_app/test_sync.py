"""The member sync service: WHAPI mocked with `responses`, real database rows."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from django.db import connection
from django.utils import timezone

from artists_app import member_sync, services
from artists_app.models import Artist, ArtistWhatsAppGroupMember
from tests.artists_app.conftest import (
    artist_make,
    members_of,
    sync,
    whapi_body,
    whapi_group_url,
)
from whatsapp_crm.models import TaskRun

Member = ArtistWhatsAppGroupMember


def test_it_caches_the_members_of_the_group(synced_artist):
    rows = members_of(synced_artist)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (None, "123456789012345@lid", "member"),
        ("436641234567", "436641234567", "member"),
        ("4915123456789", "4915123456789", "creator"),
        ("4917612345678", "4917612345678", "admin"),
    ]
    assert {r[3] for r in rows} == {"120363000000000101"}
    assert {r[4] for r in rows} == {"Mira Sol – Fans"}
    assert synced_artist.member_sync_status == Artist.SyncStatus.SUCCESS
    assert synced_artist.whatsapp_group_name == "Mira Sol – Fans"
    assert synced_artist.last_member_sync_at is not None


def test_it_replaces_the_whole_set_on_resync(synced_artist, mocked_gateway):
    mocked_gateway.get(
        whapi_group_url(synced_artist.whatsapp_group_id),
        json=whapi_body(
            synced_artist.whatsapp_group_id,
            [("4915123456789", "member"), ("4930123456", "admin")],
            name="Renamed",
        ),
    )
    result = sync([synced_artist])
    assert result["success_count"] == 1
    assert result["results"][0]["members"] == 2
    rows = members_of(synced_artist)
    assert [(r[0], r[2], r[4]) for r in rows] == [
        ("4915123456789", "member", "Renamed"),
        ("4930123456", "admin", "Renamed"),
    ]


def test_it_merges_duplicate_spellings_of_one_member_keeping_the_highest_rank(
    artist, mocked_gateway
):
    mocked_gateway.get(
        whapi_group_url(artist.whatsapp_group_id),
        json=whapi_body(
            artist.whatsapp_group_id,
            [
                ("4915123456789", "member"),
                ("4915123456789@s.whatsapp.net", "admin"),
                ("4915123456789", "member"),
                ("111@lid", "member"),
                ("111@lid", "member"),
                ("not-a-number", "member"),
            ],
        ),
    )
    sync([artist])
    rows = members_of(artist)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (None, "111@lid", "member"),
        ("4915123456789", "4915123456789@s.whatsapp.net", "admin"),
        (None, "not-a-number", "member"),
    ]


def test_it_keeps_the_old_member_set_unchanged_when_whapi_fails(synced_artist, mocked_gateway):
    before = members_of(synced_artist)
    mocked_gateway.get(
        whapi_group_url(synced_artist.whatsapp_group_id),
        status=404,
        json={"error": "group not found"},
    )
    result = sync([synced_artist])

    assert result["fail_count"] == 1
    item = result["results"][0]
    assert item["status"] == "failed"
    assert "not found" in item["error"]
    assert item["members"] == 4  # the kept cache
    # Same phones, ranks, group, names and sync times: only the status columns changed.
    assert members_of(synced_artist) == before
    statuses = set(
        Member.objects.filter(artist=synced_artist).values_list("sync_status", "sync_error")
    )
    assert statuses == {("failed", item["error"])}
    synced_artist.refresh_from_db()
    assert synced_artist.member_sync_status == Artist.SyncStatus.FAILED
    assert "not found" in synced_artist.member_sync_error
    assert synced_artist.member_sync_attempted_at > synced_artist.last_member_sync_at


def test_it_records_the_failure_of_an_artist_without_cached_rows(artist, mocked_gateway):
    mocked_gateway.get(
        whapi_group_url(artist.whatsapp_group_id), status=401, json={"error": "bad token"}
    )
    result = sync([artist])
    assert result["results"][0] == {
        "artist_id": str(artist.pk),
        "name": artist.name,
        "status": "failed",
        "members": 0,
        "error": "WHAPI rejected the token (401). Check WHAPI_TOKEN.",
    }
    artist.refresh_from_db()
    assert artist.member_sync_status == Artist.SyncStatus.FAILED
    assert artist.member_sync_error == "WHAPI rejected the token (401). Check WHAPI_TOKEN."
    assert artist.last_member_sync_at is None


def test_it_carries_on_with_the_other_artists_when_one_fails(organization, mocked_gateway):
    good = artist_make(organization, "Good", "120363000000000201")
    bad = artist_make(organization, "Bad", "120363000000000202")
    also_good = artist_make(organization, "Also good", "120363000000000203")
    for a in (good, also_good):
        mocked_gateway.get(
            whapi_group_url(a.whatsapp_group_id),
            json=whapi_body(a.whatsapp_group_id, [("4915123456789", "creator")]),
        )
    mocked_gateway.get(
        whapi_group_url(bad.whatsapp_group_id), body=requests.ConnectionError("refused")
    )

    result = sync([good, bad, also_good])

    assert (result["total_artists"], result["success_count"], result["fail_count"]) == (3, 2, 1)
    assert [r["name"] for r in result["results"]] == ["Good", "Bad", "Also good"]
    assert [r["status"] for r in result["results"]] == ["success", "failed", "success"]
    assert "unreachable" in result["results"][1]["error"]
    assert Member.objects.filter(artist__in=[good, also_good]).count() == 2


def test_it_waits_out_a_429_using_retry_after(artist, mocked_gateway, caplog):
    url = whapi_group_url(artist.whatsapp_group_id)
    mocked_gateway.get(url, status=429, json={"error": "slow down"}, headers={"Retry-After": "0.3"})
    mocked_gateway.get(
        url, json=whapi_body(artist.whatsapp_group_id, [("4915123456789", "creator")])
    )

    caplog.set_level("INFO", logger="artists_app.member_sync")
    started = time.monotonic()
    result = sync([artist])

    assert time.monotonic() - started >= 0.3
    assert len(mocked_gateway.calls) == 2
    assert result["success_count"] == 1
    assert "retrying in 0.30 s" in caplog.text


def test_it_backs_off_exponentially_without_retry_after_and_gives_up(
    artist, mocked_gateway, monkeypatch
):
    waits: list[float] = []
    monkeypatch.setattr(member_sync, "_sleep", waits.append)
    monkeypatch.setattr(member_sync, "BACKOFF_BASE_SECONDS", 0.0001)
    monkeypatch.setattr(member_sync, "RATE_LIMIT_RETRIES", 3)
    url = whapi_group_url(artist.whatsapp_group_id)
    mocked_gateway.get(url, status=429, json={"error": "slow down"})

    result = sync([artist])

    assert len(mocked_gateway.calls) == 4  # first try + 3 retries
    assert result["fail_count"] == 1
    assert "rate limit" in result["results"][0]["error"]
    assert "Gave up after 4 attempts" in result["results"][0]["error"]


def test_it_does_not_retry_permanent_errors(artist, mocked_gateway):
    mocked_gateway.get(
        whapi_group_url(artist.whatsapp_group_id), status=404, json={"error": "gone"}
    )
    sync([artist])
    assert len(mocked_gateway.calls) == 1


def test_it_fetches_with_bounded_concurrency(organization, mocked_gateway, settings):
    settings.WHAPI_CONCURRENCY = 3
    artists = [artist_make(organization, f"A{i}", f"12036300000000{i:04d}") for i in range(9)]
    active, peak, lock = [0], [0], threading.Lock()

    def slow_group(request):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        group_id = request.url.rsplit("/", 1)[1].removesuffix("@g.us")
        return 200, {}, __import__("json").dumps(whapi_body(group_id, [("4915123456789", "admin")]))

    for a in artists:
        mocked_gateway.add_callback(
            "GET", whapi_group_url(a.whatsapp_group_id), callback=slow_group
        )
    result = sync(artists)

    assert result["success_count"] == 9
    assert peak[0] == 3


def test_it_skips_an_artist_whose_group_changed_during_the_fetch(artist, mocked_gateway):
    mocked_gateway.get(
        whapi_group_url(artist.whatsapp_group_id),
        json=whapi_body(artist.whatsapp_group_id, [("4915123456789", "admin")]),
    )
    # The run read the artist (old group id); the user changes the group before the answer is
    # written. The old group's members must not land under the new group id.
    Artist.objects.filter(pk=artist.pk).update(whatsapp_group_id="120363999999999999")
    result = sync([artist])
    assert result["results"][0]["status"] == "skipped"
    assert not Member.objects.filter(artist=artist).exists()


def test_it_records_progress_and_results_on_the_task_run(organization, mocked_gateway):
    a = artist_make(organization, "A", "120363000000000301")
    b = artist_make(organization, "B", "120363000000000302")
    mocked_gateway.get(
        whapi_group_url(a.whatsapp_group_id), json=whapi_body("x", [("4915123456789", "admin")])
    )
    mocked_gateway.get(whapi_group_url(b.whatsapp_group_id), status=500, json={"error": "boom"})
    run = TaskRun.objects.create(
        organization=organization, kind=services.SYNC_TASK_KIND, params={"artist_id": None}
    )
    seen: list[int] = []

    services.group_members_sync_run(
        task_run_id=run.pk,
        on_progress=lambda done, total, item: seen.append(TaskRun.objects.get(pk=run.pk).done),
    )

    run.refresh_from_db()
    assert seen == [1, 2]
    assert (run.state, run.done, run.total) == ("SUCCESS", 2, 2)
    assert run.result["total_artists"] == 2
    assert run.result["success_count"] == 1
    assert run.result["fail_count"] == 1
    by_name = {r["name"]: r for r in run.result["results"]}
    assert by_name["A"]["members"] == 1
    assert by_name["B"]["status"] == "failed"
    assert "500" in by_name["B"]["error"]


def test_it_syncs_only_the_artist_of_a_one_artist_run(organization, mocked_gateway):
    a = artist_make(organization, "A", "120363000000000401")
    artist_make(organization, "B", "120363000000000402")
    artist_make(organization, "No group", "")
    mocked_gateway.get(
        whapi_group_url(a.whatsapp_group_id), json=whapi_body("x", [("4915123456789", "admin")])
    )
    run = TaskRun.objects.create(
        organization=organization, kind=services.SYNC_TASK_KIND, params={"artist_id": str(a.pk)}
    )
    result = services.group_members_sync_run(task_run_id=run.pk)
    assert [r["name"] for r in result["results"]] == ["A"]
    assert len(mocked_gateway.calls) == 1


def test_it_marks_the_run_failed_when_the_sync_crashes(organization, monkeypatch):
    artist_make(organization)
    run = TaskRun.objects.create(
        organization=organization, kind=services.SYNC_TASK_KIND, params={"artist_id": None}
    )

    def crash(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(member_sync, "group_members_sync", crash)
    with pytest.raises(RuntimeError):
        services.group_members_sync_run(task_run_id=run.pk)
    run.refresh_from_db()
    assert run.state == "FAILURE"
    assert run.error == "RuntimeError: disk full"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_it_never_shows_a_concurrent_reader_an_empty_member_set(organization, mocked_gateway):
    """A reader hammering the lookup query while the artist re-syncs sees old or new, never none."""
    artist = artist_make(organization)
    old = [(f"49151{n:08d}", "member") for n in range(40)]
    new = [(f"49160{n:08d}", "member") for n in range(40)]
    shared = ("4915123456789", "admin")  # in both sets: every read must find it
    url = whapi_group_url(artist.whatsapp_group_id)
    mocked_gateway.get(url, json=whapi_body(artist.whatsapp_group_id, [shared, *old]))
    sync([artist])

    counts: list[int] = []
    shared_hits: list[int] = []
    stop = threading.Event()
    errors: list[BaseException] = []

    def reader():
        try:
            while not stop.is_set():
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(*), count(*) FILTER (WHERE member_phone = %s) "
                        "FROM artist_whatsapp_group_members WHERE artist_id = %s",
                        [shared[0], artist.pk],
                    )
                    total, hits = cursor.fetchone()
                counts.append(total)
                shared_hits.append(hits)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for round_ in range(30):
            mocked_gateway.replace(
                "GET",
                url,
                json=whapi_body(
                    artist.whatsapp_group_id, [shared, *(new if round_ % 2 == 0 else old)]
                ),
            )
            result = sync([artist])
            assert result["success_count"] == 1
    finally:
        stop.set()
        thread.join(10)

    assert not errors
    assert len(counts) > 100  # the reader really ran alongside the re-syncs
    assert set(counts) == {41}
    assert set(shared_hits) == {1}
    assert (
        timezone.now()
        >= ArtistWhatsAppGroupMember.objects.filter(artist=artist).first().last_synced_at
    )
