from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from groups_app.admin import sync_groups_action
from sessions_app import services
from sessions_app.models import WhatsAppSession
from whatsapp_crm.admin_scoping import OrganizationScopedAdmin


@admin.register(WhatsAppSession)
class WhatsAppSessionAdmin(OrganizationScopedAdmin):
    list_display = [
        "session_id",
        "name",
        "organization",
        "status",
        "phone_number",
        "last_error",
        "last_error_at",
        "created_at",
    ]
    list_filter = ["status", "organization"]
    search_fields = ["phone_number", "session_id", "name"]
    readonly_fields = ["id", "created_at", "updated_at"]
    list_select_related = ["organization"]
    ordering = ["-created_at"]
    actions = ["verify_against_gateway", "clear_phone_number", sync_groups_action]

    @admin.action(description="Verify against gateway", permissions=["change"])
    def verify_against_gateway(self, request: HttpRequest, queryset: QuerySet) -> None:
        for session in queryset.order_by("created_at"):
            before = session.status
            result = services.session_verify(session=session)
            label = session.name or session.session_id
            if result.unreachable:
                self.message_user(
                    request,
                    f"{label}: gateway unreachable, nothing changed ({result.error}).",
                    messages.ERROR,
                )
            elif result.session.status != before:
                self.message_user(
                    request,
                    f"{label}: {before} → {result.session.status} (gateway: {result.vps_status})"
                    + (f" — {result.session.last_error}" if result.session.last_error else ""),
                    messages.WARNING,
                )
            else:
                self.message_user(
                    request, f"{label}: {result.session.status}, confirmed.", messages.SUCCESS
                )

    @admin.action(description="Clear phone number", permissions=["change"])
    def clear_phone_number(self, request: HttpRequest, queryset: QuerySet) -> None:
        count = services.sessions_clear_phone_number(
            session_ids=list(queryset.values_list("pk", flat=True))
        )
        self.message_user(
            request, f"Cleared the phone number of {count} session(s).", messages.SUCCESS
        )
