"""Admin for the queue and campaigns. The queue-row actions come from `row_actions.ROW_ACTIONS`
(the queue page's table): one definition, each action calls a service."""

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
from campaigns_app.row_actions import ROW_ACTIONS, RowAction
from whatsapp_crm.admin_scoping import OrganizationScopedAdmin, OrganizationScopedInline
from whatsapp_crm.errors import ApplicationError

AdminAction = Callable[[admin.ModelAdmin, HttpRequest, QuerySet], None]


def _run_on_each(
    modeladmin: admin.ModelAdmin, request: HttpRequest, rows: QuerySet, action: RowAction
) -> None:
    ok, errors = 0, []
    for row in rows:
        try:
            action.run(row, False)  # the admin asks no question, so nothing is confirmed
            ok += 1
        except ApplicationError as exc:
            errors.append(f"{row}: {exc.message}")
    if ok:
        modeladmin.message_user(request, f"{action.admin_done}: {ok}.", messages.SUCCESS)
    for error in errors[:10]:
        modeladmin.message_user(request, error, messages.ERROR)


def row_admin_actions(queue_rows: Callable[[QuerySet], QuerySet]) -> list[AdminAction]:
    """One admin action per row action; `queue_rows` maps the selected objects to queue rows."""

    def make(action: RowAction) -> AdminAction:
        def run(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
            _run_on_each(modeladmin, request, queue_rows(queryset), action)

        run.__name__ = action.admin_name
        return admin.action(description=action.admin_description, permissions=["change"])(run)

    return [make(action) for action in ROW_ACTIONS]


def _selected(queryset: QuerySet) -> QuerySet:
    return queryset


def _queue_rows_of_groups(queryset: QuerySet) -> QuerySet:
    return ScheduledWhatsAppMessage.objects.filter(campaign_group__in=queryset)


@admin.register(ScheduledWhatsAppMessage)
class ScheduledWhatsAppMessageAdmin(OrganizationScopedAdmin):
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
    actions = row_admin_actions(_selected)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False


class NotificationCampaignGroupInline(OrganizationScopedInline, admin.TabularInline):
    model = NotificationCampaignGroup
    extra = 0
    can_delete = False
    fields = ["group_name", "group_jid", "status", "message_id", "error_message", "sent_at"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(NotificationCampaign)
class NotificationCampaignAdmin(OrganizationScopedAdmin):
    list_display = [
        "name",
        "status",
        "total_groups",
        "sent_count",
        "failed_count",
        "cancelled_count",
        "scheduled_for",
        "organization",
    ]
    list_filter = ["status", "organization"]
    search_fields = ["name", "message"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in NotificationCampaign._meta.fields]
    inlines = [NotificationCampaignGroupInline]
    actions = ["retry_failed", "cancel_waiting", "recount"]

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    @admin.action(description="Retry failed groups", permissions=["change"])
    def retry_failed(self, request: HttpRequest, queryset: QuerySet) -> None:
        total = sum(services.campaign_retry_failed(campaign=c) for c in queryset)
        self.message_user(request, f"{total} failed group(s) queued again.", messages.SUCCESS)

    @admin.action(description="Cancel the groups still waiting", permissions=["change"])
    def cancel_waiting(self, request: HttpRequest, queryset: QuerySet) -> None:
        for campaign in queryset:
            try:
                result = services.campaign_cancel(campaign=campaign)
            except ApplicationError as exc:
                self.message_user(request, f"{campaign}: {exc.message}", messages.ERROR)
            else:
                self.message_user(request, f"{campaign}: {result.message}", messages.SUCCESS)

    @admin.action(description="Recount from group rows", permissions=["change"])
    def recount(self, request: HttpRequest, queryset: QuerySet) -> None:
        for campaign in queryset:
            services.campaign_recount(campaign=campaign)
        self.message_user(request, "Recounted.", messages.SUCCESS)


@admin.register(NotificationCampaignGroup)
class NotificationCampaignGroupAdmin(OrganizationScopedAdmin):
    organization_path = "campaign__organization"
    list_display = ["group_name", "group_jid", "status", "message_id", "error_message", "campaign"]
    list_filter = ["status"]
    search_fields = ["group_name", "group_jid", "message_id"]
    list_select_related = ["campaign"]
    readonly_fields = [f.name for f in NotificationCampaignGroup._meta.fields]
    # A group row's actions act on its queue row.
    actions = row_admin_actions(_queue_rows_of_groups)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False


@admin.register(QueueSessionState)
class QueueSessionStateAdmin(OrganizationScopedAdmin):
    organization_path = "session__organization"
    list_display = [
        "session",
        "next_slot_at",
        "paused_until",
        "consecutive_failures",
        "unreachable_since",
    ]
    readonly_fields = ["session"]
