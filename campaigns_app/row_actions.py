"""The four actions on one queue row, defined once.

The queue page draws its buttons from this table and runs `POST /queue/<id>/<name>/` through it;
both Django admin classes (queue rows, and campaign group rows through their queue row) generate
their actions from it. Each action calls one service; the service, not the table, decides whether
the row's current status allows it (its error message is what the user sees). `statuses` only
says on which rows the page offers the button, and what it asks before running it.
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
    run: Callable[[ScheduledWhatsAppMessage], object]
    danger: bool = False

    def button(self, status: str) -> RowButton | None:
        if status not in self.statuses:
            return None
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


def _cancel(row: ScheduledWhatsAppMessage) -> object:
    return services.scheduled_message_cancel(message=row)


def _retry_now(row: ScheduledWhatsAppMessage) -> object:
    return services.scheduled_message_retry_now(message=row)


def _mark_sent(row: ScheduledWhatsAppMessage) -> object:
    return services.scheduled_message_resolve(message=row, sent=True)


def _mark_failed(row: ScheduledWhatsAppMessage) -> object:
    return services.scheduled_message_resolve(message=row, sent=False)


SEND_AGAIN = "Send this message again?"

ROW_ACTIONS: tuple[RowAction, ...] = (
    RowAction(
        name="retry",
        admin_name="retry_now",
        label="Retry now",
        admin_description="Retry now (pending, failed or cancelled)",
        statuses={Status.PENDING: "", Status.FAILED: SEND_AGAIN, Status.CANCELLED: SEND_AGAIN},
        done="Message queued to be sent now.",
        admin_done="Queued",
        run=_retry_now,
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


def row_buttons(status: str) -> list[RowButton]:
    """The buttons the queue page shows on a row in `status`, in the table's order."""
    return [button for action in ROW_ACTIONS if (button := action.button(status))]
