"""Demo artists for `make run`. The simulator's WHAPI answers any group id with 40 deterministic
members, so creating them queues member syncs that the worker runs right away. The names and
groups come from `demo_data`, which the simulator uses too (the apps never import the
simulator): the demo number is in these groups, so their membership changes arrive live."""

from __future__ import annotations

from typing import TextIO

from artists_app import services
from artists_app.models import Artist
from demo_data import demo_artists
from whatsapp_crm.models import Organization


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
