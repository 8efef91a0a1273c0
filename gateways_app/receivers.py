"""What WAHA's and Evolution API's webhook events mean for the CRM (INTERFACE §7).

One function per gateway turns a validated event into one of a few reports, which the receivers
(gateways_app/webhook_apis.py) apply through the same services as our own protocol's webhooks:
- `StatusReport` → sessions_app.services.session_apply_reported_status;
- `MessageErrorReport` → campaigns_app.queue.message_error_apply (sent → failed);
- `ReceiptReport` → campaigns_app.queue.receipt_record (a participant's delivered / read / played);
- `ParticipantsReport` → artists_app.member_events.members_apply_participant_event;
- `Ignored` → 200 {"ignored": true} (events the CRM does not use: server acks, other events).
Nothing here touches the database: adding an event is a new report type here and its service
call in the receiver.

Shapes, from the gateways' own documents and source (payloads in tests/fixtures/{waha,evolution}/
webhook_*.json, sources in their READMEs):
- WAHA envelope {"id": "evt_<ulid>", "timestamp": <ms>, "event", "session", "metadata", "me":
  {"id"}, "payload", "engine", "environment"}. `session.status` payload {"status", "statuses"};
  `message.ack` / `message.ack.group` payload {"id": "<fromMe>_<chat>_<id>[_<participant>]",
  "from", "to", "participant", "fromMe", "ack": -1..4, "ackName": "ERROR|PENDING|SERVER|DEVICE|
  READ|PLAYED"}; `group.v2.participants` payload {"type": "join|leave|promote|demote", "group":
  {"id"}, "participants": [{"id", "pn"?, "role"}]}.
- Evolution envelope {"event": "connection.update", "instance": "<name>", "data", "destination",
  "date_time", "sender", "server_url", "apikey"}. `connection.update` data {"instance", "state":
  "open|connecting|close|refused", "statusReason", "wuid"?}; `messages.update` data {"keyId",
  "remoteJid", "fromMe", "participant", "status": "ERROR|PENDING|SERVER_ACK|DELIVERY_ACK|READ|
  PLAYED|DELETED", "instanceId", "messageId"?}; `group-participants.update` data {"id": "<group>@g.us",
  "action": "add|remove|promote|demote", "participants": ["<jid>"], "participantsData"?: [{"jid",
  "phoneNumber"}] (2.3.5+)}.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime

from whatsapp_crm.gateway import GatewayError
from whatsapp_crm.gateway_evolution import EVOLUTION_STATES
from whatsapp_crm.gateway_thirdparty import bare_message_id, phone_from_jid
from whatsapp_crm.gateway_waha import waha_state


class BadEvent(Exception):
    """An event the CRM uses, in a shape it cannot read (answered 400)."""


@dataclass(frozen=True)
class StatusReport:
    status: str  # connected | connecting | disconnected
    phone_number: str | None = None
    error: str | None = None
    reported_at: datetime | None = None


@dataclass(frozen=True)
class MessageErrorReport:
    message_id: str  # bare, as the send recorded it
    error_code: str
    error_message: str
    group_jid: str = ""


@dataclass(frozen=True)
class ReceiptReport:
    message_id: str  # bare, as the send recorded it
    participant: str | None  # the group member; None for a message to one person
    status: str  # delivered | read | played
    at: datetime | None = None


@dataclass(frozen=True)
class ParticipantsReport:
    group_jid: str
    action: str  # add | remove | promote | demote
    participants: list[Any]  # ids, or {"id", "phone"} dicts (members_apply_participant_event)


@dataclass(frozen=True)
class Ignored:
    reason: str


Report = StatusReport | MessageErrorReport | ReceiptReport | ParticipantsReport | Ignored

# WAHA's ack of a message WhatsApp refused (ack -1, ackName "ERROR").
WAHA_ERROR_ACK = -1
WAHA_ACK_EVENTS = ("message.ack", "message.ack.group")
# WAHA's ack numbers of a receipt (1 SERVER and 0 PENDING change nothing).
WAHA_RECEIPT_ACKS = {2: "delivered", 3: "read", 4: "played"}
WAHA_RECEIPT_ACK_NAMES = {"DEVICE": "delivered", "READ": "read", "PLAYED": "played"}
WAHA_PARTICIPANT_TYPES = {
    "join": "add",
    "leave": "remove",
    "promote": "promote",
    "demote": "demote",
}
EVOLUTION_RECEIPT_STATUSES = {"DELIVERY_ACK": "delivered", "READ": "read", "PLAYED": "played"}
EVOLUTION_PARTICIPANT_ACTIONS = ("add", "remove", "promote", "demote")
MAX_PARTICIPANTS = 1024


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadEvent(f"{what} must be a JSON object.")
    return value


def _participant(value: Any) -> str | None:
    return value.strip()[:100] if isinstance(value, str) and value.strip() else None


def _participant_list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise BadEvent(f"{what} must be a non-empty list.")
    if len(value) > MAX_PARTICIPANTS:
        raise BadEvent(f"{what} has more than {MAX_PARTICIPANTS} entries.")
    return value


def _group_jid(*candidates: Any) -> str:
    for value in candidates:
        if isinstance(value, str) and value.endswith("@g.us"):
            return value[:100]
    return ""


# --- WAHA -----------------------------------------------------------------------------------------


def waha_report(event: dict[str, Any]) -> Report:
    """The report of a validated WAHA event (keys: event, payload, me, timestamp)."""
    name = event["event"]
    if name == "session.status":
        return _waha_status(event)
    if name in WAHA_ACK_EVENTS:
        return _waha_ack(name, _object(event.get("payload"), "payload"), event.get("timestamp"))
    if name == "group.v2.participants":
        return _waha_participants(_object(event.get("payload"), "payload"))
    return Ignored(f"WAHA event {name!r} is not used by the CRM.")


def _waha_status(event: dict[str, Any]) -> StatusReport:
    payload = _object(event.get("payload"), "payload")
    try:
        status, error = waha_state(payload.get("status"))
    except GatewayError as exc:
        raise BadEvent(exc.message) from exc
    me = event.get("me")
    phone = phone_from_jid(me.get("id")) if status == "connected" and isinstance(me, dict) else None
    return StatusReport(
        status=status, phone_number=phone, error=error, reported_at=event.get("timestamp")
    )


def _waha_ack(name: str, payload: dict[str, Any], at: datetime | None = None) -> Report:
    ack, ack_name = payload.get("ack"), payload.get("ackName")
    number = ack if isinstance(ack, int) and not isinstance(ack, bool) else None
    upper_name = ack_name.upper() if isinstance(ack_name, str) else ""
    is_error = number == WAHA_ERROR_ACK or upper_name == "ERROR"
    receipt = WAHA_RECEIPT_ACKS.get(number) if number is not None else None
    receipt = receipt or WAHA_RECEIPT_ACK_NAMES.get(upper_name)
    if not is_error and receipt is None:
        return Ignored(f"WAHA {name} {ack_name or ack!r}: not a receipt the CRM records.")
    if payload.get("fromMe") is False:
        return Ignored(f"WAHA {name}: a receipt of a message the CRM did not send.")
    message_id = bare_message_id(payload)
    if not message_id:
        raise BadEvent(f"WAHA {name} without a message id.")
    if not is_error:
        return ReceiptReport(
            message_id=message_id[:200],
            participant=_participant(payload.get("participant")),
            status=receipt,
            at=at if isinstance(at, datetime) else None,
        )
    serialized = payload.get("id") if isinstance(payload.get("id"), str) else ""
    chat = serialized.split("_")[1] if serialized.count("_") >= 2 else ""
    return MessageErrorReport(
        message_id=message_id[:200],
        error_code=str(WAHA_ERROR_ACK),
        error_message="WAHA reported the message as not delivered (ack ERROR).",
        group_jid=_group_jid(chat, payload.get("to"), payload.get("from")),
    )


def _waha_participants(payload: dict[str, Any]) -> Report:
    change = payload.get("type")
    action = WAHA_PARTICIPANT_TYPES.get(change) if isinstance(change, str) else None
    if action is None:
        return Ignored(f"WAHA group.v2.participants type {change!r} is not used by the CRM.")
    group = payload.get("group")
    group_jid = _group_jid(group.get("id") if isinstance(group, dict) else group)
    if not group_jid:
        raise BadEvent("WAHA group.v2.participants without a group id (…@g.us).")
    entries = _participant_list(payload.get("participants"), "participants")
    participants = [
        {"id": entry.get("id"), "phone": entry.get("pn") or entry.get("phoneNumber")}
        if isinstance(entry, dict)
        else entry
        for entry in entries
    ]
    return ParticipantsReport(group_jid=group_jid, action=action, participants=participants)


# --- Evolution API ----------------------------------------------------------------------------------


def evolution_event_name(name: str) -> str:
    """Evolution's own normalisation: "connection.update" and "CONNECTION_UPDATE" are the same
    event (its WebhookController replaces . and - by _ and upper-cases)."""
    return re.sub(r"[.\-]", "_", name).upper()


def evolution_report(event: dict[str, Any]) -> Report:
    """The report of a validated Evolution API event (keys: event, data)."""
    name = evolution_event_name(event["event"])
    if name == "CONNECTION_UPDATE":
        return _evolution_connection(_object(event.get("data"), "data"))
    if name == "MESSAGES_UPDATE":
        return _evolution_message_update(
            _object(event.get("data"), "data"), _evolution_time(event.get("date_time"))
        )
    if name == "GROUP_PARTICIPANTS_UPDATE":
        return _evolution_participants(_object(event.get("data"), "data"))
    return Ignored(f"Evolution API event {event['event']!r} is not used by the CRM.")


def _evolution_connection(data: dict[str, Any]) -> StatusReport:
    state = data.get("state")
    status = EVOLUTION_STATES.get(state) if isinstance(state, str) else None
    if status is None:
        raise BadEvent(f"Evolution API reported an unknown connection state: {state!r}.")
    phone = phone_from_jid(data.get("wuid")) if status == "connected" else None
    error = None
    if status == "disconnected":
        reason = data.get("statusReason")
        detail = f" (reason {reason})" if isinstance(reason, (int, str)) and reason != "" else ""
        error = f"Evolution API reports the instance as {state}{detail}."
    return StatusReport(status=status, phone_number=phone, error=error)


def _evolution_time(value: Any) -> datetime | None:
    """Evolution's `date_time` (ISO 8601); None when absent or unreadable (then: now)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = parse_datetime(value.strip()[:64])
    except ValueError:
        return None
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def _evolution_message_update(data: dict[str, Any], at: datetime | None = None) -> Report:
    status = data.get("status")
    receipt = EVOLUTION_RECEIPT_STATUSES.get(status) if isinstance(status, str) else None
    if status != "ERROR" and receipt is None:
        return Ignored(f"Evolution API message status {status!r}: not a receipt the CRM records.")
    if data.get("fromMe") is False:
        return Ignored("Evolution API: an update of a message the CRM did not send.")
    message_id = data.get("keyId")
    if not isinstance(message_id, str) or not message_id.strip():
        raise BadEvent("Evolution API messages.update without keyId.")
    if receipt is not None:
        return ReceiptReport(
            message_id=message_id.strip()[:200],
            participant=_participant(data.get("participant")),
            status=receipt,
            at=at,
        )
    return MessageErrorReport(
        message_id=message_id.strip()[:200],
        error_code="ERROR",
        error_message="Evolution API reported the message status ERROR.",
        group_jid=_group_jid(data.get("remoteJid")),
    )


def _evolution_participants(data: dict[str, Any]) -> Report:
    action = data.get("action")
    if action not in EVOLUTION_PARTICIPANT_ACTIONS:
        return Ignored(f"Evolution API group-participants action {action!r} is not used.")
    group_jid = _group_jid(data.get("id"))
    if not group_jid:
        raise BadEvent("Evolution API group-participants.update without a group id (…@g.us).")
    detailed = data.get("participantsData")
    if isinstance(detailed, list) and detailed:
        # 2.3.5+: {"jid", "phoneNumber"} per participant (a privacy id and its number).
        entries = _participant_list(detailed, "participantsData")
        return ParticipantsReport(group_jid=group_jid, action=action, participants=entries)
    entries = _participant_list(data.get("participants"), "participants")
    return ParticipantsReport(group_jid=group_jid, action=action, participants=entries)
