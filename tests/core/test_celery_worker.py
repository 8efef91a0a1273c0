"""The embedded default really runs a Celery worker (filesystem broker, no server, not eager)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

from whatsapp_crm.models import TaskRun

ROOT = Path(__file__).resolve().parents[2]


def test_it_configures_celery_as_the_design_card_says(settings):
    from whatsapp_crm.celery import app

    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_time_limit and conf.task_soft_time_limit
    assert {entry["task"] for entry in conf.beat_schedule.values()} >= {
        "campaigns_app.tasks.queue_dispatch",
        "campaigns_app.tasks.queue_reap",
        "artists_app.tasks.group_members_sync_all",
        "artists_app.tasks.group_members_cleanup_stale",
    }


@pytest.mark.postgres
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_runs_a_task_on_a_real_worker_with_the_filesystem_broker(tmp_path, monkeypatch):
    # Celery lets the CELERY_BROKER_URL variable (set by CI to Redis) win over `broker=`.
    monkeypatch.setenv("CELERY_BROKER_URL", "filesystem://")
    run = TaskRun.objects.create(kind="ping")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "whatsapp_crm.settings",
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CELERY_BROKER_URL": "filesystem://",
        "CELERY_FILESYSTEM_BROKER_DIR": str(tmp_path / "broker"),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "whatsapp_crm",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        (tmp_path / "broker").mkdir(exist_ok=True)
        sender = Celery(
            broker="filesystem://", set_as_current=False
        )  # leave the app of the suite alone
        folder = str(tmp_path / "broker")
        sender.conf.broker_transport_options = {
            "data_folder_in": folder,
            "data_folder_out": folder,
            # Exchange bindings live here; it must be the worker's folder (settings.py).
            "control_folder": str(tmp_path / "celery-control"),
        }
        sender.conf.task_serializer = "json"
        sender.send_task("whatsapp_crm.tasks.core_ping", args=[str(run.id)])
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.state == TaskRun.State.SUCCESS:
                break
            time.sleep(0.3)
        assert run.state == TaskRun.State.SUCCESS, "the worker did not run the task in 45 s"
        assert run.result["pong"] is True
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
