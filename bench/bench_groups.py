"""Group sync of 5,000 groups served by the real gateway simulator, into the DATABASE_URL database.

`group_sync` (one bulk INSERT … ON CONFLICT, one UPDATE, one COUNT) against the naive way the
old code worked: the same gateway answer written with one `update_or_create` per group. Both run
in this process against the same simulator and database; times are server-side (what the view
waits for), as medians of several runs. Targets (issue 4): < 1 s and ≥ 20× faster than naive.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/crm .venv/bin/python -m bench groups
"""

from __future__ import annotations

import time
import uuid

from bench.common import Row, django_setup, median

GROUPS = 5000
RUNS = 5
NAIVE_RUNS = 2
NAME = "groups"


def _naive_sync(session) -> tuple[float, float, int]:
    """The old way: fetch, then one update_or_create per group (each its own transaction)."""
    from django.utils import timezone

    from gateways_app.clients import gateway_for
    from groups_app.models import WhatsAppGroup

    started = time.perf_counter()
    groups = gateway_for(session).list_groups(session.session_id)
    fetched = time.perf_counter()
    now = timezone.now()
    seen = set()
    for group in groups:
        if group.is_community or group.jid in seen:
            continue
        seen.add(group.jid)
        WhatsAppGroup.objects.update_or_create(
            session=session,
            group_jid=group.jid,
            defaults={
                "organization_id": session.organization_id,
                "group_name": group.subject,
                "participant_count": group.size,
                "is_community_announce": group.is_community_announce,
                "is_active": True,
                "synced_at": now,
            },
        )
    WhatsAppGroup.objects.filter(session=session).exclude(group_jid__in=seen).update(
        is_active=False
    )
    written = time.perf_counter()
    return fetched - started, written - fetched, len(seen)


def run() -> list[Row]:
    django_setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from gateway_simulator import GatewaySimulator
    from groups_app.services import group_sync
    from sessions_app.models import WhatsAppSession
    from whatsapp_crm.models import Organization

    call_command("migrate", verbosity=0, interactive=False)
    sim = GatewaySimulator(port=0, api_key=settings.GATEWAY_API_KEY).start()
    settings.GATEWAY_URL = sim.url
    organization = Organization.objects.create(name=f"bench groups {uuid.uuid4().hex[:8]}")
    tag = uuid.uuid4().hex[:8]
    counter = iter(range(1_000_000))

    def new_session() -> WhatsAppSession:
        # "wa_demo…" sessions are connected at the simulator from the start.
        session = WhatsAppSession.objects.create(
            organization=organization,
            session_id=f"wa_demo_bench_{tag}_{next(counter)}",
            status=WhatsAppSession.Status.CONNECTED,
        )
        sim.set_groups(session.session_id, count=GROUPS)
        return session

    try:
        vendor = connection.vendor
        first: list[tuple[float, float, float]] = []
        again: list[tuple[float, float, float]] = []
        saved = 0
        for _ in range(RUNS):
            session = new_session()
            for bucket in (first, again):
                t0 = time.perf_counter()
                result = group_sync(session=session)
                total = time.perf_counter() - t0
                bucket.append((total, result.fetch_seconds, result.write_seconds))
                saved = result.saved_count

        naive_first: list[tuple[float, float, float]] = []
        naive_again: list[tuple[float, float, float]] = []
        for _ in range(NAIVE_RUNS):
            session = new_session()
            for bucket in (naive_first, naive_again):
                t0 = time.perf_counter()
                fetch, write, _count = _naive_sync(session)
                bucket.append((time.perf_counter() - t0, fetch, write))

        session = new_session()
        counted: list[str] = []

        def count(execute, sql, params, many, context):
            counted.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            group_sync(session=session)
        queries = len(counted)
        counted.clear()
        with connection.execute_wrapper(count):
            _naive_sync(session)
        naive_queries = len(counted)
    finally:
        organization.delete()  # cascades to the bench sessions and groups
        sim.stop()

    def med(samples: list[tuple[float, float, float]], i: int) -> float:
        return median([s[i] for s in samples])

    label = f"{NAME} ({vendor})"
    rows = []
    for title, ours, naive in (
        (f"first sync of {GROUPS:,} groups, total", first, naive_first),
        (f"re-sync of {GROUPS:,} groups, total", again, naive_again),
    ):
        value, naive_value = med(ours, 0), med(naive, 0)
        rows.append(
            Row(
                label,
                title,
                value,
                "s",
                naive=naive_value,
                target="< 1 s, ≥ 20x",
                ok=value < 1.0 and naive_value / value >= 20,
            )
        )
        # The naive way fetches the same answer, so only the write is compared.
        rows.append(Row(label, "  of which gateway fetch", med(ours, 1), "s"))
        rows.append(Row(label, "  of which DB write", med(ours, 2), "s", naive=med(naive, 2)))
    rows.append(
        Row(
            label,
            f"queries per sync ({GROUPS:,} groups)",
            queries,
            "queries",
            naive=naive_queries,
            target="constant (≤ 8)",
            ok=queries <= 8,
        )
    )
    rows.append(
        Row(
            label,
            "groups saved per sync (of 5,000; 2 parents)",
            saved,
            "groups",
            target=f"{GROUPS - 2}",
            ok=saved == GROUPS - 2,
        )
    )
    return rows
