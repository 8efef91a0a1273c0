"""The actions on one queue row, defined once.

The queue page draws its buttons from this table and runs `POST /queue/<id>/<name>/` through it;
both Django admin classes (queue rows, and campaign group rows through their queue row) generate
their actions from it. Each action calls one service; the service, not the table, decides whether
the row's current status allows it (its error message is what the user sees). `statuses` only
says on which rows the page offers the button, and what it asks before running it.

Each label says what happens: "Send now" (pending: skip the wait), "Retry now" (failed: a new
send), "Restore" (cancelled: back in the queue at its time), "Cancel", "Mark sent", "Mark
failed". On a row WhatsApp reported an error for, "Mark sent" asks about that error and its POST
carries `confirm=1`; without it the service refuses (the admin has no such step, so it refuses).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from campaigns_app import services
from campaigns_app.models import ScheduledWhatsAppMessage

Status = ScheduledWhatsAppMessage.Status


@dataclass(frozen=True)
class RowAction:
    name: str  # the page's URL slug
    admin_name: str  # the admin action's name (the POSTed "action")
    label: str  # the page's button
    admin_description: str  # the admin's action menu
    # Status -> the question asked before running ("" asks nothing); other statuses get no button.
    statuses: Mapping[str, str]
    done: str  # the page's message after success
    admin_done: str  # the admin's message after success: "<admin_done>: <count>."
    # Runs the service; the bool is the person's explicit confirmation (`confirm=1`).
    run: Callable[[ScheduledWhatsAppMessage, bool], object]
    danger: bool = False
    # Asks about a late WhatsApp error shown on the row, and then sends the confirmation.
    confirms_late_error: bool = False

    def button(self, status: str, *, late_error: str = "") -> RowButton | None:
        if status not in self.statuses:
            return None
        if late_error and self.confirms_late_error:
            return RowButton(
                name=self.name,
                label=self.label,
                confirm=f"{late_error} Did the message arrive all the same? {self.label} anyway?",
                danger=True,
                confirmed=True,
            )
        return RowButton(
            name=self.name, label=self.label, confirm=self.statuses[status], danger=self.danger
        )


@dataclass(frozen=True)
class RowButton:
    """One button of one row on the queue page."""

    name: str
    label: str
    confirm: str
    danger: bool
    confirmed: bool = False  # the POST carries confirm=1


def _send_now(row: ScheduledWhatsAppMessage, confirmed: bool) -> object:
    return services.scheduled_message_send_now(message=row)


def _retry_now(row: ScheduledWhatsAppMessage, confirmed: bool) -> object:
    return services.scheduled_message_retry_now(message=row)


def _restore(row: ScheduledWhatsAppMessage, confirmed: bool) -> object:
    return services.scheduled_message_restore(message=row)


def _cancel(row: ScheduledWhatsAppMessage, confirmed: bool) -> object:
    return services.scheduled_message_cancel(message=row)


def _mark_sent(row: ScheduledWhatsAppMessage, confirmed: bool) -> object:
    return services.scheduled_message_resolve(message=row, sent=True, confirmed=confirmed)


def _mark_failed(row: ScheduledWhatsAppMessage, confirmed: bool) -> object:
    return services.scheduled_message_resolve(message=row, sent=False)


ROW_ACTIONS: tuple[RowAction, ...] = (
    RowAction(
        name="send-now",
        admin_name="send_now",
        label="Send now",
        admin_description="Send now (pending only: skip the wait)",
        statuses={Status.PENDING: ""},
        done="Message queued to be sent now.",
        admin_done="Queued to send now",
        run=_send_now,
    ),
    RowAction(
        name="retry",
        admin_name="retry_now",
        label="Retry now",
        admin_description="Retry now (failed only: a new send)",
        statuses={Status.FAILED: "Send this message again?"},
        done="Message queued to be sent again now.",
        admin_done="Queued",
        run=_retry_now,
    ),
    RowAction(
        name="restore",
        admin_name="restore",
        label="Restore",
        admin_description="Restore (cancelled only: back in the queue at its time)",
        statuses={
            Status.CANCELLED: "Put this message back in the queue? It is sent at its scheduled "
            "time, or now if that has passed."
        },
        done="Message back in the queue.",
        admin_done="Restored",
        run=_restore,
    ),
    RowAction(
        name="cancel",
        admin_name="cancel",
        label="Cancel",
        admin_description="Cancel (pending only)",
        statuses={Status.PENDING: "Cancel this message?"},
        done="Message cancelled.",
        admin_done="Cancelled",
        run=_cancel,
        danger=True,
    ),
    RowAction(
        name="mark-sent",
        admin_name="mark_sent",
        label="Mark sent",
        admin_description="Needs review → mark sent (checked in WhatsApp)",
        statuses={Status.NEEDS_REVIEW: "You checked WhatsApp and the message arrived?"},
        done="Marked as sent.",
        admin_done="Marked sent",
        run=_mark_sent,
        confirms_late_error=True,
    ),
    RowAction(
        name="mark-failed",
        admin_name="mark_failed",
        label="Mark failed",
        admin_description="Needs review → mark failed (checked in WhatsApp)",
        statuses={Status.NEEDS_REVIEW: "You checked WhatsApp and the message did not arrive?"},
        done="Marked as failed.",
        admin_done="Marked failed",
        run=_mark_failed,
        danger=True,
    ),
)

_BY_NAME = {action.name: action for action in ROW_ACTIONS}


def row_action_get(name: str) -> RowAction | None:
    return _BY_NAME.get(name)


def row_buttons(status: str, *, late_error: str = "") -> list[RowButton]:
    """The buttons the queue page shows on a row in `status`, in the table's order
    (`late_error`: what WhatsApp reported for the row, which "Mark sent" asks about)."""
    return [
        button for action in ROW_ACTIONS if (button := action.button(status, late_error=late_error))
    ]
