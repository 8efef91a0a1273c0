from __future__ import annotations

from django.contrib import admin

from whatsapp_crm.models import Organization, OrganizationMember, TaskRun, WebhookEvent


class OrganizationMemberInline(admin.TabularInline):
    model = OrganizationMember
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "phone_region", "member_count", "created_at"]
    search_fields = ["name"]
    inlines = [OrganizationMemberInline]

    @admin.display(description="Members")
    def member_count(self, obj: Organization) -> int:
        return obj.memberships.count()


@admin.register(OrganizationMember)
class OrganizationMemberAdmin(admin.ModelAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]
    autocomplete_fields = ["user", "organization"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    list_display = [
        "received_at",
        "source",
        "outcome",
        "http_status",
        "session_id",
        "reference",
        "detail",
    ]
    list_filter = ["source", "outcome", "http_status"]
    search_fields = ["event_key", "session_id", "reference", "detail"]
    readonly_fields = [f.name for f in WebhookEvent._meta.fields]
    date_hierarchy = "received_at"

    def has_add_permission(self, request) -> bool:  # the inbox is written by webhooks only
        return False


@admin.register(TaskRun)
class TaskRunAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "state", "done", "total", "organization", "error"]
    list_filter = ["kind", "state"]
    readonly_fields = [f.name for f in TaskRun._meta.fields]
