from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRETS = ("DJANGO_SECRET_KEY", "GATEWAY_API_KEY", "WEBHOOK_API_KEY")


def run_check(**env_overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in SECRETS and k != "DJANGO_DEBUG"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("missing", SECRETS)
def test_it_refuses_to_start_without_each_secret_when_debug_is_off(missing):
    present = {name: "x" * 40 for name in SECRETS if name != missing}
    result = run_check(DJANGO_DEBUG="false", **present)
    assert result.returncode != 0
    assert missing in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_it_starts_with_all_secrets_and_debug_off():
    result = run_check(DJANGO_DEBUG="false", **{name: "y" * 40 for name in SECRETS})
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_it_uses_demo_values_only_in_debug():
    result = run_check(DJANGO_DEBUG="true")
    assert result.returncode == 0, result.stderr
