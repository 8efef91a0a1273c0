"""Plain helpers shared by the whole suite (fixtures live in tests/conftest.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

GATEWAY_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "gateway"


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll `predicate` until it returns something truthy (returned), or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)


def load_payload(name: str, **overrides: Any) -> Any:
    """A recorded gateway payload from tests/fixtures/gateway/ ("groups" or "groups.json"),
    with top-level keys replaced by `overrides`."""
    filename = name if name.endswith(".json") else f"{name}.json"
    data = json.loads((GATEWAY_FIXTURES / filename).read_text())
    if overrides:
        data.update(overrides)
    return data


def organization_of(username: str) -> Any:
    """The organization of a user (e.g. the browser tests' "browser" user)."""
    from whatsapp_crm.models import OrganizationMember

    return OrganizationMember.objects.get(user__username=username).organization
