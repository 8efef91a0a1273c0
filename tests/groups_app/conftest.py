"""Fixtures for the groups tests: gateway answers served through `mocked_gateway`, DB triggers."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import responses
from django.conf import settings
from django.db import connection

from groups_app.models import WhatsAppGroup
from tests.helpers import load_payload


def make_groups(count: int, *, start: int = 0, prefix: str = "Group") -> dict[str, Any]:
    """A gateway answer with `count` ordinary groups."""
    return {
        "groups": [
            {
                "id": f"1203639{i:011d}@g.us",
                "subject": f"{prefix} {i:05d}",
                "size": 3 + i % 250,
                "isCommunity": False,
                "isCommunityAnnounce": False,
                "linkedParent": None,
            }
            for i in range(start, start + count)
        ]
    }


def groups_url(session) -> str:
    return f"{settings.GATEWAY_URL}/sessions/{session.session_id}/groups"


@pytest.fixture
def serve_groups(mocked_gateway) -> Callable[..., None]:
    """`serve_groups(session, payload_or_fixture_name, status=200)` answers the next list calls."""

    def serve(session, payload: dict | str | None = None, *, status: int = 200, **kwargs) -> None:
        if isinstance(payload, str):
            payload = load_payload(payload)
        url = groups_url(session)
        mocked_gateway.remove(responses.GET, url)
        if payload is not None:
            kwargs["json"] = copy.deepcopy(payload)
        mocked_gateway.add(responses.GET, url, status=status, **kwargs)

    return serve


def stored(session) -> dict[str, dict[str, Any]]:
    """The session's rows as {jid: columns}, to compare before/after."""
    return {
        row["group_jid"]: row
        for row in WhatsAppGroup.objects.filter(session=session).values(
            "id",
            "group_jid",
            "group_name",
            "participant_count",
            "is_community",
            "is_community_announce",
            "is_active",
            "synced_at",
        )
    }


@pytest.fixture
def failing_trigger() -> Callable[..., str]:
    """Install (inside the test's transaction) a trigger on whatsapp_groups that raises.

    Returns the error code the sync must report: the SQLSTATE on Postgres; on SQLite (which
    has no SQLSTATE) the SQLite error name.
    """

    def install(sqlstate: str = "23505", message: str = "simulated failure") -> str:
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                for event in ("INSERT", "UPDATE"):
                    cursor.execute(
                        f"CREATE TRIGGER test_groups_fail_{event.lower()} BEFORE {event} "
                        f"ON whatsapp_groups BEGIN SELECT RAISE(ABORT, '{message}'); END"
                    )
                return "SQLITE_CONSTRAINT_TRIGGER"
            cursor.execute(
                f"""
                CREATE OR REPLACE FUNCTION test_groups_fail() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION '{message}' USING ERRCODE = '{sqlstate}';
                END $$ LANGUAGE plpgsql
                """
            )
            cursor.execute(
                "CREATE TRIGGER test_groups_fail BEFORE INSERT OR UPDATE ON whatsapp_groups "
                "FOR EACH ROW EXECUTE FUNCTION test_groups_fail()"
            )
        return sqlstate

    return install


@pytest.fixture
def dropping_trigger() -> Callable[[], None]:
    """A trigger that silently drops inserted rows: the database "accepts" and keeps nothing."""

    def install() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                CREATE OR REPLACE FUNCTION test_groups_drop() RETURNS trigger AS $$
                BEGIN RETURN NULL; END $$ LANGUAGE plpgsql
                """
            )
            cursor.execute(
                "CREATE TRIGGER test_groups_drop BEFORE INSERT ON whatsapp_groups "
                "FOR EACH ROW EXECUTE FUNCTION test_groups_drop()"
            )

    return install
