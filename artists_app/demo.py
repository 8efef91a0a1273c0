"""Demo artists for `make run`. The simulator's WHAPI answers any group id with 40 deterministic
members, so creating them queues member syncs that the worker runs right away. The names come
from `demo_data`, which the simulator uses too (the apps never import the simulator)."""

from __future__ import annotations

from typing import TextIO

from artists_app import services
from artists_app.models import Artist
from demo_data import generate_whapi_group
from whatsapp_crm.models import Organization


def demo_artists(count: int = 5) -> list[tuple[str, str]]:
    """(artist name, group id) pairs whose names match what the simulator's WHAPI calls those
    groups ("Mira Sol – Fan Club" belongs to Mira Sol), so the demo reads true."""
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    candidate = 120363000000000101
    while len(pairs) < count:
        group_id = str(candidate)
        artist = generate_whapi_group(group_id)["name"].split(" – ")[0]
        if artist not in seen:
            seen.add(artist)
            pairs.append((artist, group_id))
        candidate += 1
    return pairs


def seed(*, organization: Organization, stdout: TextIO) -> None:
    created = 0
    for name, group_id in demo_artists():
        if Artist.objects.filter(organization=organization, name=name).exists():
            continue
        services.artist_create(organization=organization, name=name, whatsapp_group_id=group_id)
        created += 1
    if created:
        stdout.write(f"Artists: {created} demo artists added; their group members sync now.\n")
    else:
        stdout.write("Artists: demo artists already there.\n")
