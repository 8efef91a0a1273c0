"""Full member sync: 500 artists × 40 members, WHAPI answering after 50 ms (issue 6).

The real gateway/WHAPI simulator (configure_whapi(latency_ms=50)) and a dedicated database
(<DATABASE_URL's name>_bench_member_sync, created and dropped). The sync as the Celery task runs
it (`group_members_sync_run`: WHAPI_CONCURRENCY fetch threads, each artist's set replaced in one
transaction, progress on the TaskRun) against the same sync fetching one group at a time.
Target: < 10 s.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm .venv/bin/python -m bench member_sync
"""

from __future__ import annotations

import time

from bench.bench_lookup import bench_database
from bench.common import Row, django_setup

NAME = "member_sync"
ARTISTS = 500
LATENCY_MS = 50


def run() -> list[Row]:
    django_setup()
    from django.conf import settings

    from artists_app import member_sync, services
    from artists_app.models import Artist, ArtistWhatsAppGroupMember
    from gateway_simulator import WHAPI_MEMBERS_PER_GROUP, GatewaySimulator
    from whatsapp_crm.models import Organization, TaskRun

    rows: list[Row] = []
    sim = GatewaySimulator(
        port=0, api_key=settings.GATEWAY_API_KEY, whapi_token=settings.WHAPI_TOKEN
    ).start()
    settings.WHAPI_URL = sim.whapi_url
    sim.configure_whapi(latency_ms=LATENCY_MS)
    try:
        with bench_database(NAME):
            organization = Organization.objects.create(name="Bench member sync")
            artists = Artist.objects.bulk_create(
                [
                    Artist(
                        organization=organization,
                        name=f"Artist {n:03d}",
                        whatsapp_group_id=str(120363000000100000 + n),
                    )
                    for n in range(ARTISTS)
                ]
            )

            def full_sync() -> tuple[float, dict]:
                run = TaskRun.objects.create(
                    organization=organization,
                    kind=services.SYNC_TASK_KIND,
                    params={"artist_id": None},
                )
                started = time.perf_counter()
                result = services.group_members_sync_run(task_run_id=run.pk)
                return time.perf_counter() - started, result

            first, result = full_sync()
            assert result["success_count"] == ARTISTS, result["fail_count"]
            cached = ArtistWhatsAppGroupMember.objects.count()
            assert cached == ARTISTS * WHAPI_MEMBERS_PER_GROUP, cached
            again, result = full_sync()  # every set replaced (delete + insert per artist)
            assert result["success_count"] == ARTISTS

            started = time.perf_counter()
            result = member_sync.group_members_sync(artists=artists, concurrency=1)
            sequential = time.perf_counter() - started
            assert result["success_count"] == ARTISTS
    finally:
        sim.stop()

    concurrency = settings.WHAPI_CONCURRENCY
    rows += [
        Row(
            NAME,
            f"first full sync, {ARTISTS}×{WHAPI_MEMBERS_PER_GROUP} at {LATENCY_MS} ms "
            f"({concurrency} threads vs sequential)",
            first,
            "s",
            naive=sequential,
            target="< 10 s",
            ok=first < 10,
        ),
        Row(
            NAME,
            f"re-sync replacing {cached:,} cached rows (vs sequential)",
            again,
            "s",
            naive=sequential,
            target="< 10 s",
            ok=again < 10,
        ),
    ]
    return rows
