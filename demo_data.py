"""Deterministic demo data: session phone numbers, session group lists, WHAPI group members.

The gateway simulator serves these, and the apps' demo seeds (`artists_app/demo.py`) name their
rows after them, so both must compute the same values. That is why this is a top-level module and
not part of `gateway_simulator/`: the core and the apps never import the simulator, and the
simulator imports nothing from the project (`whatsapp_crm/__init__.py` starts Celery and Django
settings). Standard library only; the same input always gives the same output, across restarts.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

_COMMUNITY_SUBJECTS = ["Nova Lights Community", "Echo Harbour Community"]
_GROUP_SUBJECTS = [
    "Tour Crew 2026",
    "Fan Club Berlin",
    "Fan Club Hamburg",
    "Fan Club München",
    "Fan Club Wien",
    "Fan Club Zürich",
    "Backstage Team",
    "Merch Squad",
    "VIP Ticket Holders",
    "Street Team Köln",
    "Press & Media",
    "Festival Volunteers",
    "Meet & Greet Winners",
    "Ticket Swap",
    "Vinyl Collectors",
    "Support Act Crew",
    "Lighting & Sound",
    "Fan Club Amsterdam",
    "Presale Alerts",
    "Choir Project",
    "Fan Club Leipzig",
    "Bus Travel Frankfurt",
]
_ARTIST_NAMES = [
    "Nova Lights",
    "Echo Harbour",
    "Mira Sol",
    "The Paper Kites Tribute",
    "Lena Marlen",
    "Kaskade Brothers",
    "Jonas Feld",
    "Aurora Bay",
]
# (prefix, digits after it): valid mobile ranges, mostly German.
_PHONE_PLANS = [
    ("49151", 8),
    ("49151", 8),
    ("49160", 7),
    ("49160", 8),
    ("49170", 7),
    ("49170", 8),
    ("49176", 8),
    ("49157", 8),
    ("43664", 7),
    ("4179", 7),
    ("3161", 7),
]
# The demo sessions `manage.py seed_demo` stores (sessions_app/demo.py). The simulator knows every
# id starting with "wa_demo" as a connected session, from its start. The old number was logged
# out, and a gateway forgets a logged-out session: its id must not start with "wa_demo", so the
# simulator answers 404 for it and verifying it says disconnected, as the seeded row does.
DEMO_MAIN_SESSION_ID = "wa_demo_main"
DEMO_OLD_SESSION_ID = "wa_old_demo"
DEMO_OLD_SESSION_ERROR = "Logged out on the phone"
# Before this id was fixed, the old number was seeded as "wa_demo_old" (which verified connected).
DEMO_OLD_SESSION_FORMER_ID = "wa_demo_old"

WHAPI_MEMBERS_PER_GROUP = 40
WHAPI_PRIVACY_IDS_PER_GROUP = 2
WHAPI_SHARED_PER_GROUP = 3


def _digits(seed: str, length: int) -> str:
    value = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:16], "big")
    return str(value % 10**length).zfill(length)


def demo_phone_number(session_id: str) -> str:
    """The phone number a session connects with unless one was set: "49151" + 8 digits."""
    return "49151" + _digits(f"phone:{session_id}", 8)


def _group_jid(session_id: str, index: int) -> str:
    return f"120363{_digits(f'group:{session_id}:{index}', 12)}@g.us"


def generate_groups(session_id: str, count: int) -> list[dict[str, Any]]:
    """`count` protocol-shaped groups: 2 community parents, 3 announcement groups, the rest normal.

    Group number i is the same whatever `count` is, so growing a session's list keeps its groups.
    The order is shuffled (deterministically), as a real gateway lists groups in no useful order.
    """
    groups: list[dict[str, Any]] = []
    parents: list[dict[str, Any]] = []
    for index in range(max(0, count)):
        jid = _group_jid(session_id, index)
        size_seed = int(_digits(f"size:{session_id}:{index}", 6))
        if index < 2:
            group = {
                "id": jid,
                "subject": _COMMUNITY_SUBJECTS[index],
                "size": 150 + size_seed % 850,
                "isCommunity": True,
                "isCommunityAnnounce": False,
                "linkedParent": None,
            }
            parents.append(group)
        elif index < 5 and parents:
            parent = parents[(index - 2) % len(parents)]
            group = {
                "id": jid,
                "subject": parent["subject"].removesuffix(" Community")
                + (" Announcements" if index < 4 else " News"),
                "size": max(2, parent["size"] - size_seed % 20),
                "isCommunity": False,
                "isCommunityAnnounce": True,
                "linkedParent": parent["id"],
            }
        else:
            normal = index - 5
            subject = (
                _GROUP_SUBJECTS[normal]
                if normal < len(_GROUP_SUBJECTS)
                else f"Demo Group {normal + 1:02d}"
            )
            group = {
                "id": jid,
                "subject": subject,
                "size": 3 + size_seed % 254,
                "isCommunity": False,
                "isCommunityAnnounce": False,
                "linkedParent": None,
            }
        groups.append(group)
    random.Random(f"layout:{session_id}").shuffle(groups)
    if session_id == DEMO_MAIN_SESSION_ID and count > 0:
        # The demo number is in the demo artists' fan groups (after the others, so that the
        # generated groups keep their places): their members, campaign receipts and live
        # membership changes are those of the artists' cached members.
        groups += [
            {
                "id": f"{group_id}@g.us",
                "subject": generate_whapi_group(group_id)["name"],
                "size": WHAPI_MEMBERS_PER_GROUP,
                "isCommunity": False,
                "isCommunityAnnounce": False,
                "linkedParent": None,
            }
            for _, group_id in demo_artists()
        ]
    return groups


def demo_artists(count: int = 5) -> list[tuple[str, str]]:
    """(artist name, group id) pairs for the demo artists (artists_app/demo.py), whose names match
    what WHAPI and the demo number's group list call those groups ("Mira Sol – Fan Club" belongs
    to Mira Sol), so the demo reads true."""
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


def _phone(rng: random.Random) -> str:
    prefix, length = rng.choice(_PHONE_PLANS)
    first = str(rng.randint(1, 9))  # no leading zero in the subscriber number
    return prefix + first + "".join(str(rng.randint(0, 9)) for _ in range(length - 1))


# A few fans are members of several artists' groups, so a phone lookup finds more than one artist.
_SHARED_MEMBERS = [_phone(random.Random(f"shared-fan:{n}")) for n in range(8)]


def generate_whapi_group(group_id: str) -> dict[str, Any]:
    """WHAPI's answer for a group nobody configured: 40 deterministic members of the group.

    1 creator, 2 admins, the rest members; 2 are privacy ids ("<digits>@lid"); 3 come from a small
    pool shared by all groups.
    """
    group_id = group_id.removesuffix("@g.us")
    rng = random.Random(f"whapi:{group_id}")
    name = f"{rng.choice(_ARTIST_NAMES)} – {rng.choice(['Fans', 'Crew', 'Insiders', 'Fan Club'])}"
    phones: list[str] = rng.sample(_SHARED_MEMBERS, WHAPI_SHARED_PER_GROUP)
    seen = set(phones)
    while len(phones) < WHAPI_MEMBERS_PER_GROUP - WHAPI_PRIVACY_IDS_PER_GROUP:
        phone = _phone(rng)
        if phone not in seen:
            seen.add(phone)
            phones.append(phone)
    rng.shuffle(phones)
    ids = phones[:]
    for _ in range(WHAPI_PRIVACY_IDS_PER_GROUP):
        # Privacy ids never take the creator/admin slots, so those always have a phone number.
        ids.insert(rng.randint(3, len(ids)), f"{rng.randrange(10**14, 10**15)}@lid")
    ranks = ["creator", "admin", "admin"] + ["member"] * (len(ids) - 3)
    return {
        "id": f"{group_id}@g.us",
        "name": name,
        "participants": [{"id": pid, "rank": rank} for pid, rank in zip(ids, ranks, strict=True)],
    }
