"""Who is in which group: the members each dialect's participants endpoint lists and WHAPI
answers, and how `change_participants` changes them (INTERFACE §9).

- A group's members start as WHAPI's deterministic ones (`demo_data.generate_whapi_group`: 40,
  1 creator, 2 admins, 2 privacy ids), so MEMBER_SOURCE=whapi and MEMBER_SOURCE=gateway read the
  same people. `set_whapi_group` (`POST /_control/whapi/groups/{id}`) replaces them for both.
- Members belong to the group, not to a session: every session in the group sees the same list,
  as on WhatsApp. A session sees only the groups of its group list (`set_groups`); any other
  group is "not found" for it, to list and to change.
- A change is applied, then announced as a `group_participants` event (the dialect's webhook).
  The rules are the CRM's (artists_app/member_events.py), so a webhook and a later full sync
  agree: add → member (someone already in keeps their rank), remove → gone, promote → admin (the
  creator stays creator), demote → member; promoting or demoting someone not in the group adds
  them with that rank. Phone ids ("…@c.us", "…@s.whatsapp.net") are kept as their digits,
  privacy ids ("…@lid") as given.
- A stored group is replaced on every change, never changed in place, so an answer serialized
  after the lock is released is one consistent list.

Mixed into `SimulatorState`, which owns the lock and the sessions and calls `_init_members()`.
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING, Any

from demo_data import generate_whapi_group

if TYPE_CHECKING:
    from gateway_simulator.state import SimulatedSession

PARTICIPANT_ACTIONS = ("add", "remove", "promote", "demote")
_RANK_OF_NEWCOMER = {"add": "member", "promote": "admin", "demote": "member"}


def member_id(participant: str) -> str:
    """The id a member is kept under: the digits of a phone JID (without a device suffix such as
    ":12"), a privacy id or anything else as given."""
    value = participant.strip()
    for suffix in ("@c.us", "@s.whatsapp.net"):
        if value.endswith(suffix):
            return value.removesuffix(suffix).split(":")[0]
    return value


def group_jid(value: str) -> str:
    """ "1203…" or "1203…@g.us" → "1203…@g.us"."""
    value = value.strip()
    return value if "@" in value else f"{value}@g.us"


def privacy_id(phone: str) -> str:
    """The privacy id ("<15 digits>@lid") WhatsApp shows for a number in a LID-addressed group:
    always the same for the same number."""
    value = int(hashlib.sha256(f"lid:{phone}".encode()).hexdigest()[:16], 16)
    return f"{10**14 + value % (9 * 10**14)}@lid"


def changed_members(
    members: list[dict[str, Any]], action: str, ids: list[str]
) -> list[dict[str, Any]]:
    """The member list after one change, as a new list (`members` is left as it was)."""
    result = [dict(member) for member in members]
    by_id = {member.get("id"): member for member in result}
    removed: set[str] = set()
    for pid in ids:
        member = by_id.get(pid)
        if action == "remove":
            if member is not None:
                removed.add(pid)
                del by_id[pid]
        elif member is None:
            member = {"id": pid, "rank": _RANK_OF_NEWCOMER[action]}
            result.append(member)
            by_id[pid] = member
        elif action == "promote" and member.get("rank") != "creator":
            member["rank"] = "admin"
        elif action == "demote":
            member["rank"] = "member"
    return [member for member in result if member.get("id") not in removed]


class Members:
    _lock: threading.Lock

    if TYPE_CHECKING:  # provided by SimulatorState

        def _existing_session(self, session_id: str) -> SimulatedSession: ...
        def _session_groups(
            self, session_id: str
        ) -> tuple[list[dict[str, Any]], frozenset[str]]: ...
        def _queue_event_locked(self, event: dict[str, Any]) -> None: ...

    def _init_members(self) -> None:
        # Bare group id → {"id", "name", "participants"}: the groups set or changed; any other
        # group has its generated members.
        self._member_groups: dict[str, dict[str, Any]] = {}

    def set_whapi_group(
        self,
        group_id: str,
        *,
        name: str | None = None,
        participants: list[dict[str, Any]],
    ) -> None:
        """The group's name and members, for WHAPI and every dialect's participants list."""
        group_id = group_id.removesuffix("@g.us")
        group = {
            "id": f"{group_id}@g.us",
            "name": name if name is not None else generate_whapi_group(group_id)["name"],
            "participants": [dict(p) for p in participants],
        }
        with self._lock:
            self._member_groups[group_id] = group

    def group_participants(self, session_id: str, jid: str) -> list[dict[str, Any]]:
        """The members of a group of the session, [{"id", "rank"}] in WHAPI's shape (never
        changed later: copy before changing). GatewayRefusal 404 for an unknown session or a
        group the session is not in, 503 when the session is not connected."""
        from gateway_simulator.state import GatewayRefusal

        with self._lock:
            if self._existing_session(session_id).status != "connected":
                raise GatewayRefusal(503, "Session not connected")
            return self._member_group_locked(self._session_group_locked(session_id, jid))[
                "participants"
            ]

    def change_participants(
        self, session_id: str, group_jid: str, action: str, participants: list[str]
    ) -> None:
        """Someone joined, left, was promoted or demoted in a group of the session: the member
        list changes and the dialect's webhook announces it. GatewayRefusal 404 for an unknown
        session or a group the session is not in."""
        if action not in PARTICIPANT_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(PARTICIPANT_ACTIONS)}")
        if not participants or not all(isinstance(p, str) and p.strip() for p in participants):
            raise ValueError("participants must be a non-empty list of ids")
        from gateway_simulator.state import event_id

        with self._lock:
            self._existing_session(session_id)
            jid = self._session_group_locked(session_id, group_jid)
            group = self._member_group_locked(jid)
            members = changed_members(
                group["participants"], action, [member_id(p) for p in participants]
            )
            self._member_groups[jid.removesuffix("@g.us")] = {**group, "participants": members}
            self._queue_event_locked(
                {
                    "event": "group_participants",
                    "id": event_id(),
                    "sessionId": session_id,
                    "groupJid": group_jid,
                    "action": action,
                    "participants": list(participants),
                }
            )

    # --- lock held ---------------------------------------------------------------------------------
    def _session_group_locked(self, session_id: str, jid: str) -> str:
        """The group's JID when it is in the session's group list; GatewayRefusal 404 if not."""
        from gateway_simulator.state import GatewayRefusal

        jid = group_jid(jid)
        groups, _ = self._session_groups(session_id)
        if not any(isinstance(g, dict) and g.get("id") == jid for g in groups):
            raise GatewayRefusal(404, f"Group {jid} not found")
        return jid

    def _member_group_locked(self, jid: str) -> dict[str, Any]:
        """{"id", "name", "participants"} of a group (with or without "@g.us") as it is now."""
        group_id = jid.removesuffix("@g.us")
        return self._member_groups.get(group_id) or generate_whapi_group(group_id)
