"""Fixtures for the artists app: artists and cached members. WHAPI answers are registered on the
root `mocked_gateway` fixture (`responses`), at `whapi_group_url(...)`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from django.utils import timezone

from artists_app import member_sync
from artists_app.models import Artist, ArtistWhatsAppGroupMember

WHAPI = "http://whapi.test"  # settings_test.WHAPI_URL


def whapi_group_url(group_id: str) -> str:
    return f"{WHAPI}/groups/{group_id}@g.us"


def whapi_body(group_id: str, participants: list[tuple[str, str]], name: str = "") -> dict:
    return {
        "id": f"{group_id}@g.us",
        "name": name or f"Group {group_id[-4:]}",
        "participants": [{"id": pid, "rank": rank} for pid, rank in participants],
    }


def artist_make(organization, name: str = "Mira Sol", group_id: str = "120363000000000101"):
    """An artist row without queueing anything (tests start syncs themselves)."""
    return Artist.objects.create(organization=organization, name=name, whatsapp_group_id=group_id)


def members_of(artist: Artist) -> list[tuple[Any, ...]]:
    return sorted(
        ArtistWhatsAppGroupMember.objects.filter(artist=artist).values_list(
            "member_phone",
            "member_wa_id",
            "member_rank",
            "whatsapp_group_id",
            "whatsapp_group_name",
            "last_synced_at",
        ),
        key=lambda row: (row[1],),
    )


def sync(artists: list[Artist], **kwargs: Any) -> dict[str, Any]:
    return member_sync.group_members_sync(artists=artists, **kwargs)


@pytest.fixture
def artist(organization):
    return artist_make(organization)


@pytest.fixture
def synced_artist(organization, mocked_gateway):
    """An artist whose cache holds 3 phone members and 1 privacy id."""
    artist = artist_make(organization)
    mocked_gateway.get(
        whapi_group_url(artist.whatsapp_group_id),
        json=whapi_body(
            artist.whatsapp_group_id,
            [
                ("4915123456789", "creator"),
                ("4917612345678", "admin"),
                ("436641234567", "member"),
                ("123456789012345@lid", "member"),
            ],
            name="Mira Sol – Fans",
        ),
    )
    result = sync([artist])
    assert result["success_count"] == 1
    mocked_gateway.reset()
    artist.refresh_from_db()
    return artist


@pytest.fixture
def make_members() -> Callable[..., list[ArtistWhatsAppGroupMember]]:
    """Insert cached member rows directly (for cleanup and health tests)."""

    def make(artist: Artist, phones: list[str], *, synced_at: datetime | None = None):
        synced_at = synced_at or timezone.now()
        return ArtistWhatsAppGroupMember.objects.bulk_create(
            [
                ArtistWhatsAppGroupMember(
                    artist=artist,
                    whatsapp_group_id=artist.whatsapp_group_id,
                    whatsapp_group_name="Fans",
                    member_phone=phone,
                    member_wa_id=phone,
                    member_rank="member",
                    last_synced_at=synced_at,
                )
                for phone in phones
            ]
        )

    return make
