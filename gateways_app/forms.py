"""The add-a-gateway form of the settings page (same limits as the API)."""

from __future__ import annotations

from django import forms
from django.core.validators import ProhibitNullCharactersValidator

from gateways_app.models import WhatsAppGateway

NO_NUL = [ProhibitNullCharactersValidator()]


class GatewayForm(forms.Form):
    name = forms.CharField(max_length=100, validators=NO_NUL, help_text="E.g. “WAHA Berlin”.")
    kind = forms.ChoiceField(choices=WhatsAppGateway.Kind.choices)
    base_url = forms.URLField(
        max_length=500,
        assume_scheme="http",
        validators=NO_NUL,
        label="Base URL",
        widget=forms.TextInput(attrs={"inputmode": "url", "placeholder": "http://…"}),
        help_text="Where the CRM reaches the gateway, e.g. http://waha.internal:3000.",
    )
    api_key = forms.CharField(
        max_length=500,
        validators=NO_NUL,
        label="API key",
        widget=forms.PasswordInput(render_value=False),
        help_text="The gateway's API key (WAHA_API_KEY, Evolution's AUTHENTICATION_API_KEY). "
        "Stored encrypted; never shown again.",
    )
    waha_single_session = forms.BooleanField(
        required=False,
        label="WAHA Core (one session, named “default”)",
        help_text="Such a server serves one number at a time.",
    )
