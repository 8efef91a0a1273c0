from __future__ import annotations

from typing import Any

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin, AccessLogAdmin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.http import HttpRequest
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from whatsapp_crm.admin_scoping import OrganizationScopedAdmin, OrganizationScopedInline
from whatsapp_crm.models import Organization, OrganizationMember, TaskRun, WebhookEvent

admin.site.site_header = "whatsapp_crm administration"
admin.site.site_title = "whatsapp_crm admin"
admin.site.index_title = (
    "Data fixes. Superusers see every organization; other staff only their own."
)


class OrganizationMemberInline(OrganizationScopedInline, admin.TabularInline):
    model = OrganizationMember
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin):
    list_display = ["name", "phone_region", "member_count", "created_at"]
    search_fields = ["name"]
    inlines = [OrganizationMemberInline]

    @admin.display(description="Members")
    def member_count(self, obj: Organization) -> int:
        return obj.memberships.count()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser  # staff belong to exactly one organization


@admin.register(OrganizationMember)
class OrganizationMemberAdmin(OrganizationScopedAdmin):
    list_display = ["user", "organization", "role", "created_at"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]
    autocomplete_fields = ["user", "organization"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(OrganizationScopedAdmin):
    """The inbox belongs to no organization (events arrive before they are matched to one):
    superusers only."""

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

    def has_add_permission(self, request: HttpRequest) -> bool:  # written by webhooks only
        return False


@admin.register(TaskRun)
class TaskRunAdmin(OrganizationScopedAdmin):
    list_display = ["created_at", "kind", "state", "done", "total", "organization", "error"]
    list_filter = ["kind", "state"]
    readonly_fields = [f.name for f in TaskRun._meta.fields]


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class ScopedUserAdmin(OrganizationScopedAdmin, UserAdmin):
    """Staff see the users of their organization; only superusers grant staff or superuser
    status or permissions."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_staff", "is_superuser", "groups", "user_permissions"]
        return fields


class SuperuserOnlyAdmin:
    """Secrets and other organizations' traces (API tokens, login attempts): superusers only."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return request.user.is_superuser


for _model, _admin in [
    (TokenProxy, TokenAdmin),
    (AccessAttempt, AccessAttemptAdmin),
    (AccessLog, AccessLogAdmin),
    (AccessFailureLog, AccessFailureLogAdmin),
]:
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, type(_admin.__name__, (SuperuserOnlyAdmin, _admin), {}))
