"""Django admin for gateway rows: scoped to the staff user's organization; the API key is
write-only (empty keeps the stored one) and the webhook secret is never shown."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin

from gateways_app.models import WhatsAppGateway
from whatsapp_crm.admin_scoping import OrganizationScopedAdmin


class WhatsAppGatewayAdminForm(forms.ModelForm):
    base_url = forms.URLField(label="Base URL", max_length=500, assume_scheme="http")
    new_api_key = forms.CharField(
        label="API key",
        required=False,
        max_length=500,
        strip=True,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted and never shown. Leave empty to keep the current key.",
    )

    class Meta:
        model = WhatsAppGateway
        fields = ["organization", "name", "kind", "base_url", "waha_single_session"]

    def clean_new_api_key(self) -> str:
        value = self.cleaned_data.get("new_api_key") or ""
        if "\x00" in value:
            raise forms.ValidationError("Null characters are not allowed.")
        if not value and not self.instance.pk:
            raise forms.ValidationError("A new gateway needs its API key.")
        return value

    def save(self, commit: bool = True) -> Any:
        if self.cleaned_data.get("new_api_key"):
            self.instance.api_key = self.cleaned_data["new_api_key"]
        return super().save(commit=commit)


@admin.register(WhatsAppGateway)
class WhatsAppGatewayAdmin(OrganizationScopedAdmin):
    form = WhatsAppGatewayAdminForm
    # The stored key and the webhook secret are never fields: only a new key can be typed.
    fields = ["organization", "name", "kind", "base_url", "new_api_key", "waha_single_session"]
    list_display = ["name", "kind", "base_url", "waha_single_session", "organization", "created_at"]
    list_filter = ["kind", "organization"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["id", "created_at"]
    list_select_related = ["organization"]
    ordering = ["name"]
