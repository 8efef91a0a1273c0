"""Webhook throughput: every gateway webhook against a bare DRF APIView, same server, same run.

Set-up: a dedicated Postgres database (<DATABASE_URL's name>_bench_webhooks), gunicorn with 3 sync
workers (DEBUG off, as deployed), wrk (Debian's `wrk` package) with 8 connections on 2 threads,
BENCH_WEBHOOK_ROUNDS (3) rounds over all endpoints, BENCH_WEBHOOK_SECONDS (5) per endpoint and
round after a 1 s warm-up, VACUUM ANALYZE after the fill and after each round (autovacuum's
work; it is off on this machine's Postgres). Medians over the rounds; an endpoint's share is
taken against the bare view of the same round. The events are spread over 50
sessions of 10 organizations; every event has its own `id` (no replays):
- bare:               POST /bench/bare/ (a DRF APIView without authentication or database)
- insert:             POST /bench/insert/ (the same view plus one durable single-row INSERT of an
                      inbox row in autocommit: what storing an event costs at the least)
- status:             session_status connected / connecting
- message-error:      errors for sent queue rows (the first fails a row, later ones change nothing)
- message-ack:        delivered / read receipts of random participants (of 200) for sent rows,
                      half of them campaign groups, each with 150 delivered and 50 read receipts
                      already (row, group and campaign counts move; some acks are repeats)
- group-participants: add / remove / promote / demote in the groups of 200 artists, 200 cached
                      members each

Target: each webhook ≥ 50 % of the bare view's requests/s, p99 < 25 ms, no errors (non-2xx
answers or socket errors).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/whatsapp_crm .venv/bin/python -m bench webhooks
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bench.bench_lookup import bench_database
from bench.common import Row, django_setup

ROOT = Path(__file__).resolve().parents[1]
ORGANIZATIONS = 10
SESSIONS_PER_ORG = 5  # 50 sessions
MESSAGES_PER_SESSION = 20  # sent rows acked (half campaign groups) and as many errored
ARTISTS_PER_ORG = 20
MEMBERS_PER_ARTIST = 200
# Acks arrive mid-flood: each acked message already has receipts of 150 of its group's 200
# members (50 of them read), as in a campaign to groups of 200; acks name one of the 200.
GROUP_MEMBERS = 200
DELIVERED_BEFORE = 150
READ_BEFORE = 50
CONNECTIONS = 8
WORKERS = 3
SECONDS = int(os.environ.get("BENCH_WEBHOOK_SECONDS", "5"))
ROUNDS = int(os.environ.get("BENCH_WEBHOOK_ROUNDS", "3"))
WARMUP_SECONDS = 1
WEBHOOK_KEY = "bench-webhook-key"
TARGET_SHARE = 0.5
TARGET_P99_MS = 25.0

ENDPOINTS = {
    "bare": "/bench/bare/",
    "insert": "/bench/insert/",
    "status": "/api/webhooks/whatsapp/status/",
    "message-error": "/api/webhooks/whatsapp/message-error/",
    "message-ack": "/api/webhooks/whatsapp/message-ack/",
    "group-participants": "/api/webhooks/whatsapp/group-participants/",
}


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


def _fill() -> dict[str, list]:
    """50 sessions, their sent rows and campaigns, 200 artists with their cached members."""
    from django.utils import timezone

    from artists_app.models import Artist, ArtistWhatsAppGroupMember
    from campaigns_app.models import (
        NotificationCampaign,
        NotificationCampaignGroup,
        ScheduledWhatsAppMessage,
    )
    from sessions_app.models import WhatsAppSession
    from whatsapp_crm.models import Organization

    now = timezone.now()
    rng = random.Random(7)
    data: dict[str, list] = {"sessions": [], "acks": [], "errors": [], "groups": []}
    for o in range(ORGANIZATIONS):
        org = Organization.objects.create(name=f"Bench org {o}")
        groups = []
        artists = Artist.objects.bulk_create(
            Artist(
                organization=org,
                name=f"Artist {o}-{a}",
                whatsapp_group_id=f"1203630{o:03d}{a:08d}",
                whatsapp_group_name=f"Fans {o}-{a}",
                last_member_sync_at=now - timedelta(hours=1),
            )
            for a in range(ARTISTS_PER_ORG)
        )
        members = []
        for artist in artists:
            groups.append(f"{artist.whatsapp_group_id}@g.us")
            for m in rng.sample(range(400), MEMBERS_PER_ARTIST):
                phone = f"49151{o:02d}{m:05d}"
                members.append(
                    ArtistWhatsAppGroupMember(
                        artist=artist,
                        whatsapp_group_id=artist.whatsapp_group_id,
                        whatsapp_group_name=artist.whatsapp_group_name,
                        member_phone=phone,
                        member_wa_id=phone,
                        member_rank="member",
                        last_synced_at=now - timedelta(hours=1),
                    )
                )
        ArtistWhatsAppGroupMember.objects.bulk_create(members, batch_size=2000)
        for s in range(SESSIONS_PER_ORG):
            index = o * SESSIONS_PER_ORG + s
            session = WhatsAppSession.objects.create(
                organization=org, session_id=f"wa_bench_{index:02d}", status="connected"
            )
            campaign = NotificationCampaign.objects.create(
                organization=org,
                session=session,
                name=f"Bench campaign {index}",
                message="Tour dates",
                status="sent",
                total_groups=MESSAGES_PER_SESSION // 2,
                sent_count=MESSAGES_PER_SESSION // 2,
            )
            rows = []
            acked, errored = [], []
            for m in range(2 * MESSAGES_PER_SESSION):
                message_id = f"wamid.bench.{index}.{m}"
                group = None
                if m < MESSAGES_PER_SESSION // 2:
                    group = NotificationCampaignGroup.objects.create(
                        campaign=campaign,
                        group_jid=f"1203639{index:03d}{m:06d}@g.us",
                        status="sent",
                        message_id=message_id,
                        sent_at=now,
                    )
                rows.append(
                    ScheduledWhatsAppMessage(
                        organization=org,
                        session=session,
                        recipient_jid=f"1203639{index:03d}{m:06d}@g.us",
                        message="Tour dates",
                        status="sent",
                        message_id=message_id,
                        sent_at=now,
                        campaign_group=group,
                    )
                )
                (acked if m < MESSAGES_PER_SESSION else errored).append(message_id)
            for row in rows:
                if row.message_id in acked:
                    row.delivered_count, row.read_count = DELIVERED_BEFORE, READ_BEFORE
                    row.delivered_at = row.read_at = now
            ScheduledWhatsAppMessage.objects.bulk_create(rows)
            NotificationCampaignGroup.objects.filter(campaign=campaign).update(
                delivered_count=DELIVERED_BEFORE,
                read_count=READ_BEFORE,
                delivered_at=now,
                read_at=now,
            )
            NotificationCampaign.objects.filter(id=campaign.id).update(
                delivered_count=DELIVERED_BEFORE * (MESSAGES_PER_SESSION // 2),
                read_count=READ_BEFORE * (MESSAGES_PER_SESSION // 2),
            )
            _fill_receipts(org.id, acked, now)
            data["sessions"].append(session.session_id)
            data["acks"].append(acked)
            data["errors"].append(errored)
            data["groups"].append(groups)
    return data


def _fill_receipts(organization_id, message_ids: list[str], now) -> None:
    """The receipts each acked message has before the run (one INSERT … SELECT)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO whatsapp_message_receipts"
            " (organization_id, message_id, participant, status, at)"
            " SELECT %s, m, '4917' || lpad(p::text, 8, '0'), s, %s"
            " FROM unnest(%s::text[]) AS m, generate_series(1, %s) AS p,"
            " unnest(ARRAY['delivered', 'read']) AS s"
            " WHERE s = 'delivered' OR p <= %s",
            [organization_id, now, message_ids, DELIVERED_BEFORE, READ_BEFORE],
        )


def _lua_table(values: list) -> str:
    if values and isinstance(values[0], list):
        return "{" + ",".join(_lua_table(v) for v in values) + "}"
    return "{" + ",".join(json.dumps(v) for v in values) + "}"


LUA = r"""
local sessions = %(sessions)s
local acks = %(acks)s
local errors = %(errors)s
local groups = %(groups)s
local kind = "%(kind)s"
local path = "%(path)s"
local run = "%(run)s"
local headers = {["Content-Type"] = "application/json", ["X-API-Key"] = "%(key)s"}
local counter = 0
local statuses = {"connected", "connecting"}
local ackkinds = {"delivered", "delivered", "read"}
local actions = {"add", "remove", "promote", "demote"}
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  math.randomseed(tid * 7919 + os.time())
end

request = function()
  counter = counter + 1
  local s = math.random(#sessions)
  local id = run .. "-" .. tid .. "-" .. counter
  local body
  if kind == "bare" or kind == "insert" then
    body = '{"ping":true}'
  elseif kind == "status" then
    body = string.format('{"event":"session_status","id":"%%s","sessionId":"%%s","status":"%%s"}',
      id, sessions[s], statuses[math.random(2)])
  elseif kind == "message-error" then
    local m = errors[s][math.random(#errors[s])]
    body = string.format('{"event":"message_error","id":"%%s","sessionId":"%%s","messageId":"%%s",'
      .. '"errorCode":"420","errorMessage":"Not allowed","groupJid":"1203@g.us"}', id, sessions[s], m)
  elseif kind == "message-ack" then
    local m = acks[s][math.random(#acks[s])]
    body = string.format('{"event":"message_ack","id":"%%s","sessionId":"%%s","messageId":"%%s",'
      .. '"ack":"%%s","participant":"4917%%08d@s.whatsapp.net"}', id, sessions[s], m,
      ackkinds[math.random(3)], math.random(%(group_members)d))
  else
    local g = groups[s][math.random(#groups[s])]
    local o = math.floor((s - 1) / %(per_org)d)
    body = string.format('{"event":"group_participants","id":"%%s","sessionId":"%%s","groupJid":"%%s",'
      .. '"action":"%%s","participants":["49151%%02d%%05d"]}', id, sessions[s], g,
      actions[math.random(4)], o, math.random(0, 399))
  end
  return wrk.format("POST", path, headers, body)
end
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_gunicorn(database_name: str, port: int) -> subprocess.Popen:
    from django.conf import settings

    db = settings.DATABASES["default"]
    url = (
        f"postgres://{db.get('USER') or 'postgres'}"
        f"{':' + db['PASSWORD'] if db.get('PASSWORD') else ''}"
        f"@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{database_name}"
    )
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="whatsapp_crm.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-secret-key",
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        DATABASE_URL=url,
        WEBHOOK_API_KEY=WEBHOOK_KEY,
        GATEWAY_API_KEY="bench-gateway-key",
        CELERY_BROKER_URL="memory://",
        DJANGO_LOG_LEVEL="WARNING",
        BENCH_BARE_VIEW="true",
    )
    env.pop("WEBHOOK_HMAC_SECRET", None)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    return subprocess.Popen(
        [
            str(gunicorn),
            "whatsapp_crm.wsgi:application",
            "--workers",
            str(WORKERS),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            # e.g. "--threads 4" to compare gthread workers (docs/performance.md)
            *os.environ.get("BENCH_GUNICORN_ARGS", "").split(),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def _wait_ready(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer within 30 s")


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def _wrk(script: Path, port: int, seconds: int) -> Result:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{CONNECTIONS}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    latency = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    p50, p99 = (re.match(r"([\d.]+)(\w+)", latency[p]).groups() for p in ("50", "99"))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Result("", rps, _ms(*p50), _ms(*p99), requests, errors)


def _status_counts(names: list[str]) -> dict[str, dict[str, int]]:
    from django.db.models import Count

    from whatsapp_crm.models import WebhookEvent

    counts: dict[str, dict[str, int]] = {}
    for source, status, n in WebhookEvent.objects.values_list("source", "http_status").annotate(
        n=Count("id")
    ):
        counts.setdefault(source, {})[str(status)] = n
    return counts


def _vacuum() -> None:
    """What autovacuum does on a deployed server, done between rounds: this machine's Postgres
    runs with `autovacuum = off` (/etc/postgresql/15/main/conf.d/90-ci.conf), so without it
    the planner has no statistics for the filled tables and updated rows pile up dead versions
    for the rest of the run."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def measure(*, seconds: int = SECONDS, rounds: int = ROUNDS) -> list[list[Result]]:
    """Fill the bench database, start gunicorn, run wrk against every endpoint in turn, `rounds`
    times (interleaved, so that a slow minute of the shared machine hits every endpoint alike).
    Returns one list of results per round, in ENDPOINTS order."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install -y wrk")
    with bench_database("webhooks") as name:
        data = _fill()
        _vacuum()
        port = _free_port()
        proc = _start_gunicorn(name, port)
        results: list[list[Result]] = []
        try:
            _wait_ready(port, proc)
            with tempfile.TemporaryDirectory() as tmp:
                for round_number in range(rounds):
                    results.append([])
                    for kind, path in ENDPOINTS.items():
                        script = Path(tmp) / f"{kind}.lua"
                        script.write_text(
                            LUA
                            % {
                                "sessions": _lua_table(data["sessions"]),
                                "acks": _lua_table(data["acks"]),
                                "errors": _lua_table(data["errors"]),
                                "groups": _lua_table(data["groups"]),
                                "kind": kind,
                                "path": path,
                                "run": uuid.uuid4().hex[:8],
                                "key": WEBHOOK_KEY,
                                "per_org": SESSIONS_PER_ORG,
                                "group_members": GROUP_MEMBERS,
                            }
                        )
                        _wrk(script, port, WARMUP_SECONDS)
                        result = _wrk(script, port, seconds)
                        result.name = kind
                        results[-1].append(result)
                        print(
                            f"  round {round_number + 1} {kind}: {result.rps:,.0f} req/s, "
                            f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
                            f"{result.errors} errors",
                            file=sys.stderr,
                            flush=True,
                        )
                    _vacuum()
            answers = _status_counts(list(ENDPOINTS))
            print(f"  answers by source and status: {answers}", file=sys.stderr, flush=True)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
    return results


@dataclass
class Summary:
    """One endpoint over all rounds: medians, its share of the bare view taken round by round."""

    name: str
    rps: float
    share: float
    p50_ms: float
    p99_ms: float
    worst_p99_ms: float
    requests: int
    errors: int


def summarize(rounds: list[list[Result]]) -> list[Summary]:
    summaries = []
    for index, name in enumerate(ENDPOINTS):
        mine = [results[index] for results in rounds]
        summaries.append(
            Summary(
                name=name,
                rps=statistics.median(r.rps for r in mine),
                share=statistics.median(
                    r.rps / results[0].rps for r, results in zip(mine, rounds, strict=True)
                ),
                p50_ms=statistics.median(r.p50_ms for r in mine),
                p99_ms=statistics.median(r.p99_ms for r in mine),
                worst_p99_ms=max(r.p99_ms for r in mine),
                requests=sum(r.requests for r in mine),
                errors=sum(r.errors for r in mine),
            )
        )
    return summaries


def run() -> list[Row]:
    django_setup()
    results = summarize(measure())
    bare = results[0]
    rows = [
        Row(
            "webhooks",
            f"bare DRF APIView, gunicorn {WORKERS} sync workers, wrk {CONNECTIONS} conn "
            f"(median of {ROUNDS} rounds)",
            bare.rps,
            "req/s",
            higher_is_better=True,
        ),
        Row("webhooks", "bare DRF APIView p99", bare.p99_ms, "ms"),
    ]
    floor = results[1]
    rows.append(
        Row(
            "webhooks",
            f"bare view + one durable INSERT, autocommit (share of bare: "
            f"{floor.share:.0%}; p99 {floor.p99_ms:.1f} ms): the ceiling of any webhook "
            "that stores its event",
            floor.rps,
            "req/s",
            higher_is_better=True,
        )
    )
    for result in results[2:]:
        share = result.share
        rows.append(
            Row(
                "webhooks",
                f"{result.name} (share of bare: {share:.0%})",
                result.rps,
                "req/s",
                naive=bare.rps,
                target=f"≥ {TARGET_SHARE:.0%} of bare",
                ok=share >= TARGET_SHARE,
                higher_is_better=True,
            )
        )
        rows.append(
            Row(
                "webhooks",
                f"{result.name} p50 / p99",
                result.p99_ms,
                "ms",
                target=f"p99 < {TARGET_P99_MS:.0f} ms (p50 {result.p50_ms:.2f} ms, "
                f"worst round {result.worst_p99_ms:.1f} ms)",
                ok=result.p99_ms < TARGET_P99_MS,
            )
        )
        rows.append(
            Row(
                "webhooks",
                f"{result.name} errors (of {result.requests:,} requests)",
                result.errors,
                "errors",
                target="0",
                ok=result.errors == 0,
            )
        )
    return rows
