"""The page forms: new campaign, and schedule one message on the queue page.

Same limits as the API's input serializers (`campaigns_app/apis.py`): text lengths, no NUL
characters (Django's CharField carries `ProhibitNullCharactersValidator`), ids that must be uuids of
this organization's sessions and groups. Bad input is a form error (a 400 page), never a database
error. The services still decide everything else (community parents, inactive groups, JIDs).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from groups_app.models import WhatsAppGroup
from sessions_app.models import WhatsAppSession
from whatsapp_crm.models import Organization

# WhatsApp's own limit is 65,536 characters; the API and the pages accept 4,096.
MESSAGE_MAX_LENGTH = 4096
CAMPAIGN_NAME_MAX_LENGTH = 200
RECIPIENT_JID_MAX_LENGTH = 100
# For the pages' `maxlength` attributes.
TEXT_LIMITS = {
    "name": CAMPAIGN_NAME_MAX_LENGTH,
    "message": MESSAGE_MAX_LENGTH,
    "recipient_jid": RECIPIENT_JID_MAX_LENGTH,
}
DATETIME_LOCAL = "%Y-%m-%dT%H:%M"
# `datetime-local` inputs have minute precision: a time is "in the past" once its whole minute
# has passed (10:30 typed at 10:30:45 is now, not the past).
PAST_GRACE = timedelta(minutes=1)


def _text_errors(what: str, *, required: str | None = None) -> dict[str, str]:
    """Error messages that name the field, so a page can show them without labels."""
    return {
        "required": required or f"{what} is required.",
        "max_length": f"{what} is too long: at most %(limit_value)d characters "
        "(it has %(show_value)d).",
        "null_characters_not_allowed": f"{what} contains a NUL character, which cannot be stored.",
    }


def error_messages(form: forms.Form) -> list[str]:
    """Every error of a bound form, one sentence each, in field order."""
    return [str(message) for errors in form.errors.values() for message in errors]


class SessionChoiceField(forms.ModelChoiceField):
    """A value that is not even a uuid is refused like an unknown session (Django's UUID
    field would answer its own "not a valid UUID" instead)."""

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except forms.ValidationError as exc:
            if exc.code == "invalid_choice":
                raise
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            ) from exc


class GroupChoiceField(forms.ModelMultipleChoiceField):
    """Group ids: a value that is not a uuid answers `invalid_pk_value` with the value."""

    def _check_values(self, value: Any) -> Any:
        for pk in value:  # a list: clean() refused anything else
            try:
                uuid.UUID(str(pk))
            except ValueError:
                raise forms.ValidationError(
                    self.error_messages["invalid_pk_value"],
                    code="invalid_pk_value",
                    params={"pk": pk},
                ) from None
        return super()._check_values(value)


class _ScheduleForm(forms.Form):
    """Session, and when to send: "now", or "later" at a `datetime-local` moment (the current
    time zone). A "later" time that has already passed is refused (`past_time`), until the person
    ticks "send now instead" (`send_now_instead`): then it is sent now."""

    session = SessionChoiceField(
        queryset=WhatsAppSession.objects.none(),
        error_messages={
            "required": "Pick a WhatsApp session.",
            "invalid_choice": "Pick a WhatsApp session.",
        },
    )
    when = forms.CharField(required=False, error_messages=_text_errors("When"))
    scheduled_for = forms.CharField(
        required=False, error_messages=_text_errors("The date and time")
    )
    send_now_instead = forms.BooleanField(required=False)

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._choices("session", WhatsAppSession.objects.filter(organization=organization))
        self.past_time = False  # the refused time had passed: the page offers "send now instead"

    def _choices(self, name: str, queryset: QuerySet) -> None:
        field = self.fields[name]
        if isinstance(field, forms.ModelChoiceField):
            field.queryset = queryset

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        data["send_at"] = None
        if data.get("when") == "later" and "scheduled_for" in data:
            send_at = self._send_at(data["scheduled_for"])
            if send_at is not None and send_at + PAST_GRACE <= timezone.now():
                if data.get("send_now_instead"):
                    send_at = None  # confirmed: now
                else:
                    self.past_time = True
                    self.add_error(
                        "scheduled_for",
                        f"{send_at:%Y-%m-%d %H:%M} ({timezone.get_current_timezone_name()}) has "
                        "already passed. Pick a later time, or tick “Send now instead”.",
                    )
            data["send_at"] = send_at
        return data

    def _send_at(self, value: str) -> datetime | None:
        if not value.strip():
            self.add_error("scheduled_for", "Pick the date and time to send at.")
            return None
        moment = forms.DateTimeField(
            input_formats=[DATETIME_LOCAL, "%Y-%m-%dT%H:%M:%S"],
            error_messages={"invalid": "The date and time are not valid."},
        )
        try:
            return moment.clean(value)  # aware, in the current time zone
        except forms.ValidationError as exc:
            self.add_error("scheduled_for", exc)
            return None


class CampaignForm(_ScheduleForm):
    name = forms.CharField(
        required=False,
        max_length=CAMPAIGN_NAME_MAX_LENGTH,
        error_messages=_text_errors("The name"),
    )
    message = forms.CharField(
        max_length=MESSAGE_MAX_LENGTH,
        strip=False,
        error_messages=_text_errors("The message", required="The message is empty."),
    )
    # Any group of the organization: the service explains why a group cannot be sent to
    # (another session, a community parent, no longer active). Django refuses a POST of over
    # 1,000 fields (DATA_UPLOAD_MAX_NUMBER_FIELDS), the API's limit on groups too.
    group_ids = GroupChoiceField(
        queryset=WhatsAppGroup.objects.none(),
        error_messages={
            "required": "Pick at least one group.",
            "invalid_choice": "Unknown group: %(value)s.",
            "invalid_pk_value": "“%(pk)s” is not a group id.",
            "invalid_list": "Pick at least one group.",
        },
    )

    field_order = ["session", "name", "message", "group_ids", "when", "scheduled_for"]

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, organization=organization, **kwargs)
        self._choices("group_ids", WhatsAppGroup.objects.filter(organization=organization))

    def clean_group_ids(self) -> list[Any]:
        return [group.id for group in self.cleaned_data["group_ids"]]


class QueueMessageForm(_ScheduleForm):
    """One message to one recipient: a JID typed, or a group picked in the page's group picker
    (`recipient_group`, the group's JID; a typed JID wins)."""

    recipient_jid = forms.CharField(
        max_length=RECIPIENT_JID_MAX_LENGTH,
        error_messages=_text_errors(
            "The recipient",
            required="The recipient must be a WhatsApp JID such as 120363000000000000@g.us.",
        ),
    )
    message = forms.CharField(
        max_length=MESSAGE_MAX_LENGTH,
        strip=False,
        error_messages=_text_errors("The message", required="The message is empty."),
    )

    field_order = ["session", "recipient_jid", "message", "when", "scheduled_for"]

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        if data is not None and not (data.get("recipient_jid") or "").strip():
            picked = data.get("recipient_group")
            if picked:
                data = data.copy()
                data["recipient_jid"] = picked
        super().__init__(data, *args, **kwargs)
