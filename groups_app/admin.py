from __future__ import annotations

from collections.abc import Iterable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from groups_app.models import WhatsAppGroup
from groups_app.services import (
    GroupSyncDatabaseError,
    group_purge_community_parents,
    group_sync,
)
from sessions_app.models import WhatsAppSession
from whatsapp_crm.admin_scoping import OrganizationScopedAdmin
from whatsapp_crm.gateway import GatewayError


def sync_sessions(request: HttpRequest, sessions: Iterable[WhatsAppSession]) -> None:
    """Run the group sync for each session now and report each outcome as an admin message."""
    for session in sessions:
        try:
            result = group_sync(session=session)
        except (GatewayError, GroupSyncDatabaseError) as exc:
            upstream = "database" if isinstance(exc, GroupSyncDatabaseError) else "gateway"
            messages.error(
                request,
                f"{session.session_id}: sync failed ({upstream}, code {exc.code}): {exc.message}",
            )
            continue
        level = messages.SUCCESS if result.saved_count or not result.vps_count else messages.WARNING
        messages.add_message(
            request,
            level,
            f"{session.session_id}: saved {result.saved_count} groups "
            f"({result.vps_count} from the gateway, {result.skipped_community_parents} "
            f"community parents skipped, {result.deactivated_count} marked inactive).",
        )


@admin.action(description="Sync groups of the selected sessions", permissions=["change"])
def sync_groups_action(
    modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[WhatsAppSession]
) -> None:
    """For the WhatsAppSession admin: `actions = [sync_groups_action]`."""
    sync_sessions(request, queryset.select_related("organization"))


@admin.register(WhatsAppGroup)
class WhatsAppGroupAdmin(OrganizationScopedAdmin):
    list_display = [
        "group_name",
        "group_jid",
        "session",
        "organization",
        "participant_count",
        "is_community",
        "is_community_announce",
        "is_active",
        "synced_at",
    ]
    list_filter = [
        "is_active",
        "is_community",
        "is_community_announce",
        ("organization", admin.RelatedOnlyFieldListFilter),
        ("session", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["group_name", "group_jid"]
    list_select_related = ["session", "organization"]
    readonly_fields = ["id", "synced_at"]
    raw_id_fields = ["session", "organization"]
    actions = ["sync_groups_of_sessions", "purge_community_parents"]

    @admin.action(description="Sync groups of the selected sessions", permissions=["change"])
    def sync_groups_of_sessions(
        self, request: HttpRequest, queryset: QuerySet[WhatsAppGroup]
    ) -> None:
        sessions = WhatsAppSession.objects.filter(
            pk__in=queryset.values("session_id")
        ).select_related("organization")
        sync_sessions(request, sessions)

    @admin.action(
        description="Delete the community parents among the selected groups",
        permissions=["delete"],
    )
    def purge_community_parents(
        self, request: HttpRequest, queryset: QuerySet[WhatsAppGroup]
    ) -> None:
        purged = group_purge_community_parents(groups=queryset)
        if not purged:
            self.message_user(
                request, "None of the selected groups is a community parent.", messages.INFO
            )
            return
        names = ", ".join(f"{g.group_name or g.group_jid}" for g in purged[:10])
        more = f" and {len(purged) - 10} more" if len(purged) > 10 else ""
        self.message_user(
            request,
            f"Deleted {len(purged)} community parent group(s): {names}{more}.",
            messages.SUCCESS,
        )
