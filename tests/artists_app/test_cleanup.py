"""Stale cache cleanup: the command, the Celery task and the Postgres function agree."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from artists_app import tasks
from artists_app.models import ArtistWhatsAppGroupMember
from tests.artists_app.conftest import artist_make


@pytest.fixture
def aged_cache(organization, make_members):
    """Three artists' sets: fresh, 6 days and 8 days old. Returns (fresh, edge, stale) ids."""
    now = timezone.now()
    fresh = artist_make(organization, "Fresh", "120363000000000701")
    edge = artist_make(organization, "Six days", "120363000000000702")
    stale = artist_make(organization, "Stale", "120363000000000703")
    make_members(fresh, ["4915100000001", "4915100000002"], synced_at=now - timedelta(hours=1))
    make_members(edge, ["4915100000003"], synced_at=now - timedelta(days=6, hours=23))
    make_members(
        stale,
        ["4915100000004", "4915100000005", "4915100000006"],
        synced_at=now - timedelta(days=8),
    )
    return fresh, edge, stale


def _remaining() -> set[str]:
    return set(ArtistWhatsAppGroupMember.objects.values_list("artist__name", flat=True))


def test_it_deletes_exactly_the_stale_rows_with_the_command(aged_cache):
    out = StringIO()
    call_command("cleanup_stale_whatsapp_cache", stdout=out)
    assert "Deleted 3 cached members not synced for 7 days." in out.getvalue()
    assert _remaining() == {"Fresh", "Six days"}
    assert ArtistWhatsAppGroupMember.objects.count() == 3


def test_it_takes_the_age_in_days(aged_cache):
    out = StringIO()
    call_command("cleanup_stale_whatsapp_cache", "--days", "2", stdout=out)
    assert "Deleted 4 cached members not synced for 2 days." in out.getvalue()
    assert _remaining() == {"Fresh"}


def test_it_refuses_a_zero_day_cleanup(aged_cache):
    with pytest.raises(CommandError, match="at least 1 day"):
        call_command("cleanup_stale_whatsapp_cache", "--days", "0", stdout=StringIO())
    assert ArtistWhatsAppGroupMember.objects.count() == 6


def test_it_cleans_up_from_the_beat_task(aged_cache):
    assert tasks.group_members_cleanup_stale() == 3
    assert _remaining() == {"Fresh", "Six days"}


@pytest.mark.postgres
def test_it_deletes_exactly_the_stale_rows_with_the_sql_function(aged_cache):
    with connection.cursor() as cursor:
        cursor.execute("SELECT cleanup_stale_whatsapp_cache();")
        assert cursor.fetchone() == (3,)
        assert _remaining() == {"Fresh", "Six days"}
        cursor.execute("SELECT cleanup_stale_whatsapp_cache();")
        assert cursor.fetchone() == (0,)
        cursor.execute("SELECT cleanup_stale_whatsapp_cache(2);")
        assert cursor.fetchone() == (1,)
    assert _remaining() == {"Fresh"}


@pytest.mark.postgres
def test_it_has_the_indexes_and_constraint_operators_rely_on(db):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'artist_whatsapp_group_members'"
        )
        names = {row[0] for row in cursor.fetchall()}
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'artist_whatsapp_group_members'::regclass AND contype = 'u'"
        )
        uniques = {row[0] for row in cursor.fetchall()}
    assert {
        "idx_whatsapp_members_artist_id",
        "idx_whatsapp_members_phone",
        "idx_whatsapp_members_group_id",
        "idx_whatsapp_members_last_synced",
    } <= names
    assert "UNIQUE (artist_id, member_phone)" in uniques
