"""Demo artists for `make run`. The simulator's WHAPI answers any group id with 40 deterministic
members, so creating them queues member syncs that the worker runs right away."""

from __future__ import annotations

from typing import TextIO

from artists_app import services
from artists_app.models import Artist
from whatsapp_crm.models import Organization

DEMO_ARTISTS = [
    ("Mira Sol", "120363000000000101"),
    ("Lena Marlen", "120363000000000102"),
    ("Kaskade Brothers", "120363000000000103"),
    ("Jonas Feld", "120363000000000104"),
    ("Aurora Bay", "120363000000000105"),
]


def seed(*, organization: Organization, stdout: TextIO) -> None:
    created = 0
    for name, group_id in DEMO_ARTISTS:
        if Artist.objects.filter(organization=organization, name=name).exists():
            continue
        services.artist_create(organization=organization, name=name, whatsapp_group_id=group_id)
        created += 1
    if created:
        stdout.write(f"Artists: {created} demo artists added; their group members sync now.\n")
    else:
        stdout.write("Artists: demo artists already there.\n")
