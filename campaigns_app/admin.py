"""Admin for the queue and campaigns, with the queue page's actions (each calls a service)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from campaigns_app import services
from campaigns_app.models import (
    NotificationCampaign,
    NotificationCampaignGroup,
    QueueSessionState,
    ScheduledWhatsAppMessage,
)
from whatsapp_crm.errors import ApplicationError


def _each(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    run: Callable[[Any], Any],
    done: str,
) -> None:
    ok, errors = 0, []
    for obj in queryset:
        try:
            run(obj)
            ok += 1
        except ApplicationError as exc:
            errors.append(f"{obj}: {exc.message}")
    if ok:
        modeladmin.message_user(request, f"{done}: {ok}.", messages.SUCCESS)
    for error in errors[:10]:
        modeladmin.message_user(request, error, messages.ERROR)


@admin.register(ScheduledWhatsAppMessage)
class ScheduledWhatsAppMessageAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "recipient_jid",
        "status",
        "retry_count",
        "next_attempt_at",
        "message_id",
        "error_message",
        "organization",
    ]
    list_filter = ["status", "organization"]
    search_fields = ["recipient_jid", "message_id", "client_message_id", "error_message"]
    date_hierarchy = "created_at"
    list_select_related = ["organization"]
    # Status changes go through the actions (services), never by editing fields.
    readonly_fields = [f.name for f in ScheduledWhatsAppMessage._meta.fields]
    actions = ["cancel", "retry_now", "mark_sent", "mark_failed"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Cancel (pending only)")
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(
            self,
            request,
            queryset,
            lambda row: services.scheduled_message_cancel(message=row),
            "Cancelled",
        )

    @admin.action(description="Retry now (pending, failed or cancelled)")
    def retry_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(
            self,
            request,
            queryset,
            lambda row: services.scheduled_message_retry_now(message=row),
            "Queued",
        )

    @admin.action(description="Needs review → mark sent (checked in WhatsApp)")
    def mark_sent(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(
            self,
            request,
            queryset,
            lambda row: services.scheduled_message_resolve(message=row, sent=True),
            "Marked sent",
        )

    @admin.action(description="Needs review → mark failed (checked in WhatsApp)")
    def mark_failed(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(
            self,
            request,
            queryset,
            lambda row: services.scheduled_message_resolve(message=row, sent=False),
            "Marked failed",
        )


class NotificationCampaignGroupInline(admin.TabularInline):
    model = NotificationCampaignGroup
    extra = 0
    can_delete = False
    fields = ["group_name", "group_jid", "status", "message_id", "error_message", "sent_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(NotificationCampaign)
class NotificationCampaignAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "status",
        "total_groups",
        "sent_count",
        "failed_count",
        "scheduled_for",
        "organization",
    ]
    list_filter = ["status", "organization"]
    search_fields = ["name", "message"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in NotificationCampaign._meta.fields]
    inlines = [NotificationCampaignGroupInline]
    actions = ["retry_failed", "recount"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Retry failed groups")
    def retry_failed(self, request: HttpRequest, queryset: QuerySet) -> None:
        total = sum(services.campaign_retry_failed(campaign=c) for c in queryset)
        self.message_user(request, f"{total} failed group(s) queued again.", messages.SUCCESS)

    @admin.action(description="Recount from group rows")
    def recount(self, request: HttpRequest, queryset: QuerySet) -> None:
        for campaign in queryset:
            services.campaign_recount(campaign=campaign)
        self.message_user(request, "Recounted.", messages.SUCCESS)


@admin.register(NotificationCampaignGroup)
class NotificationCampaignGroupAdmin(admin.ModelAdmin):
    list_display = ["group_name", "group_jid", "status", "message_id", "error_message", "campaign"]
    list_filter = ["status"]
    search_fields = ["group_name", "group_jid", "message_id"]
    list_select_related = ["campaign"]
    readonly_fields = [f.name for f in NotificationCampaignGroup._meta.fields]
    actions = ["cancel", "retry_now", "mark_sent", "mark_failed"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def _rows(self, queryset: QuerySet) -> QuerySet:
        return ScheduledWhatsAppMessage.objects.filter(campaign_group__in=queryset)

    @admin.action(description="Cancel the group's pending send")
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(
            self,
            request,
            self._rows(queryset),
            lambda row: services.scheduled_message_cancel(message=row),
            "Cancelled",
        )

    @admin.action(description="Retry now")
    def retry_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(
            self,
            request,
            self._rows(queryset),
            lambda row: services.scheduled_message_retry_now(message=row),
            "Queued",
        )

    @admin.action(description="Needs review → mark sent")
    def mark_sent(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(
            self,
            request,
            self._rows(queryset),
            lambda row: services.scheduled_message_resolve(message=row, sent=True),
            "Marked sent",
        )

    @admin.action(description="Needs review → mark failed")
    def mark_failed(self, request: HttpRequest, queryset: QuerySet) -> None:
        _each(
            self,
            request,
            self._rows(queryset),
            lambda row: services.scheduled_message_resolve(message=row, sent=False),
            "Marked failed",
        )


@admin.register(QueueSessionState)
class QueueSessionStateAdmin(admin.ModelAdmin):
    list_display = ["session", "next_slot_at", "paused_until", "consecutive_failures"]
    readonly_fields = ["session"]
