"""WAHA's group list in each engine's shape (dialect_waha.py), from the simulator's neutral
group entries {"id", "subject", "size", "isCommunity", "isCommunityAnnounce", "linkedParent"}.

WEBJS: whatsapp-web.js GroupChat with `groupMetadata`; NOWEB: Baileys GroupMetadata (keyed by JID
by the caller); GOWS: whatsmeow GroupInfo as encoding/json writes it. Participant entries are left
out (the counts are there): the CRM reads members elsewhere, and 900-member groups would make
every list megabytes long.

`waha_participant`: one entry of `GET /api/{s}/groups/{id}/participants/v2` (GroupParticipant:
"id", "pn" the number of a privacy id, "role" participant | admin | superadmin).
"""

from __future__ import annotations

from typing import Any

from gateway_simulator.members import privacy_id

CREATED = 1_700_000_000


def c_us(phone_or_id: str) -> str:
    return phone_or_id if "@" in phone_or_id else f"{phone_or_id}@c.us"


def wid(jid: str) -> dict[str, str]:
    user, _, server = jid.partition("@")
    return {"server": server, "user": user, "_serialized": jid}


def webjs_group(g: dict[str, Any], owner: str) -> dict[str, Any]:
    created = CREATED
    meta: dict[str, Any] = {
        "id": wid(g["id"]),
        "creation": created,
        "owner": wid(c_us(owner)) if owner else None,
        "subject": g.get("subject"),
        "subjectTime": created,
        "restrict": bool(g.get("isCommunity") or g.get("isCommunityAnnounce")),
        "announce": bool(g.get("isCommunity") or g.get("isCommunityAnnounce")),
        "size": g.get("size"),
        "isParentGroup": bool(g.get("isCommunity")),
        "defaultSubgroup": bool(g.get("isCommunityAnnounce")),
        "participants": [],
    }
    if g.get("linkedParent"):
        meta["parentGroup"] = wid(g["linkedParent"])
    return {
        "id": wid(g["id"]),
        "name": g.get("subject"),
        "isGroup": True,
        "isReadOnly": bool(g.get("isCommunityAnnounce")),
        "unreadCount": 0,
        "timestamp": created,
        "archived": False,
        "pinned": False,
        "isMuted": False,
        "muteExpiration": 0,
        "groupMetadata": meta,
    }


def noweb_group(g: dict[str, Any], owner: str) -> dict[str, Any]:
    community = bool(g.get("isCommunity") or g.get("isCommunityAnnounce"))
    group = {
        "id": g["id"],
        "subject": g.get("subject"),
        "subjectOwner": f"{owner}@s.whatsapp.net" if owner else None,
        "subjectTime": 1_700_000_000,
        "size": g.get("size"),
        "creation": 1_700_000_000,
        "owner": f"{owner}@s.whatsapp.net" if owner else None,
        "restrict": community,
        "announce": community,
        "isCommunity": bool(g.get("isCommunity")),
        "isCommunityAnnounce": bool(g.get("isCommunityAnnounce")),
        "participants": [],
    }
    if g.get("linkedParent"):
        group["linkedParent"] = g["linkedParent"]
    return group


def gows_group(g: dict[str, Any], owner: str) -> dict[str, Any]:
    community = bool(g.get("isCommunity") or g.get("isCommunityAnnounce"))
    return {
        "JID": g["id"],
        "OwnerJID": f"{owner}@s.whatsapp.net" if owner else "",
        "Name": g.get("subject"),
        "NameSetAt": "2023-11-14T22:13:20Z",
        "Topic": "",
        "IsLocked": community,
        "IsAnnounce": community,
        "IsEphemeral": False,
        "IsParent": bool(g.get("isCommunity")),
        "LinkedParentJID": g.get("linkedParent") or "",
        "IsDefaultSubGroup": bool(g.get("isCommunityAnnounce")),
        "GroupCreated": "2023-11-14T22:13:20Z",
        "ParticipantCount": g.get("size"),
        "Participants": [],
    }


def waha_participant(member: dict[str, Any], *, lid_addressed: bool) -> dict[str, Any]:
    """A member {"id", "rank"} as WAHA lists it. In a LID-addressed group (NOWEB, GOWS here)
    WhatsApp names members by privacy id and WAHA adds the number as `pn`; WEBJS lists numbers
    as "<digits>@c.us". A privacy id whose number nobody knows comes without `pn`."""
    pid = str(member.get("id") or "")
    role = {"creator": "superadmin", "admin": "admin"}.get(member.get("rank"), "participant")
    if "@" in pid:
        return {"id": pid, "role": role}
    if lid_addressed:
        return {"id": privacy_id(pid), "pn": c_us(pid), "role": role}
    return {"id": c_us(pid), "role": role}
