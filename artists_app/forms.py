"""Forms of the Artists page and the admin: the same limits as the API's input serializers.

Django's `forms.CharField`, like DRF's `CharField`, refuses NUL characters
(`ProhibitNullCharactersValidator`), which PostgreSQL cannot store in text columns. The group id
follows the one rule of `services.whatsapp_group_id_normalize`, as in the API.
"""

from __future__ import annotations

from typing import Any

from django import forms

from artists_app import services
from artists_app.models import Artist
from whatsapp_crm.errors import ApplicationError

NAME_REQUIRED = "The artist needs a name."


def whatsapp_group_id_clean(value: str) -> str:
    """A typed group id as stored ("120363…@g.us " → "120363…"), or a form error."""
    try:
        return services.whatsapp_group_id_normalize(value)
    except ApplicationError as exc:
        raise forms.ValidationError(exc.message, code="invalid") from exc


class ArtistForm(forms.Form):
    """Add an artist (POST /artists/create/)."""

    name = forms.CharField(
        label="Name",
        max_length=services.ARTIST_NAME_MAX_LENGTH,
        error_messages={"required": NAME_REQUIRED},
    )
    whatsapp_group_id = forms.CharField(
        label="WhatsApp group id", max_length=services.GROUP_ID_INPUT_MAX_LENGTH, required=False
    )

    def clean_whatsapp_group_id(self) -> str:
        return whatsapp_group_id_clean(self.cleaned_data["whatsapp_group_id"])

    def first_error(self) -> str:
        """One line for a toast: the first error, after the label of its field."""
        for name, errors in self.errors.items():
            if name in self.fields:
                return f"{self.fields[name].label}: {errors[0]}"
            return str(errors[0])
        return ""


class ArtistUpdateForm(ArtistForm):
    """Rename and/or change the group (POST /artists/<id>/update/): a field left out of the
    POST stays as it is; a name that is sent must not be blank."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].required = "name" in self.data

    def changes(self) -> dict[str, str]:
        """The cleaned fields that were sent, as keyword arguments of `services.artist_update`."""
        return {name: value for name, value in self.cleaned_data.items() if name in self.data}


class ArtistAdminForm(forms.ModelForm):
    class Meta:
        model = Artist
        fields = ["organization", "name", "whatsapp_group_id"]

    def clean_whatsapp_group_id(self) -> str:
        return whatsapp_group_id_clean(self.cleaned_data["whatsapp_group_id"])
