from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from artists_app import services
from artists_app.forms import ArtistAdminForm
from artists_app.models import Artist, ArtistWhatsAppGroupMember
from whatsapp_crm.admin_scoping import OrganizationScopedAdmin
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.phones import normalize_phone
from whatsapp_crm.tenancy import organization_for_user


def _search_phone(request: HttpRequest, term: str) -> str | None:
    """The search term as a stored phone number (the admin user's region), if it is one."""
    organization = organization_for_user(request.user)
    region = organization.effective_phone_region if organization else settings.DEFAULT_PHONE_REGION
    return normalize_phone(term, region=region)


class MemberStalenessFilter(admin.SimpleListFilter):
    title = "last synced"
    parameter_name = "staleness"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("24h", "Within 24 hours"),
            ("stale24h", "Older than 24 hours"),
            ("stale7d", "Older than 7 days (cleanup deletes)"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        now = timezone.now()
        if self.value() == "24h":
            return queryset.filter(last_synced_at__gte=now - timedelta(hours=24))
        if self.value() == "stale24h":
            return queryset.filter(last_synced_at__lt=now - timedelta(hours=24))
        if self.value() == "stale7d":
            return queryset.filter(last_synced_at__lt=now - timedelta(days=7))
        return queryset


class ArtistStalenessFilter(admin.SimpleListFilter):
    title = "last successful sync"
    parameter_name = "staleness"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("24h", "Within 24 hours"),
            ("stale24h", "Older than 24 hours or never"),
            ("no_members", "Has a group but no cached members"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        cutoff = timezone.now() - timedelta(hours=24)
        if self.value() == "24h":
            return queryset.filter(last_member_sync_at__gte=cutoff)
        if self.value() == "stale24h":
            return queryset.exclude(whatsapp_group_id="").filter(
                Q(last_member_sync_at=None) | Q(last_member_sync_at__lt=cutoff)
            )
        if self.value() == "no_members":
            return queryset.exclude(whatsapp_group_id="").filter(group_members__isnull=True)
        return queryset


@admin.register(Artist)
class ArtistAdmin(OrganizationScopedAdmin):
    form = ArtistAdminForm
    list_display = [
        "name",
        "organization",
        "whatsapp_group_id",
        "whatsapp_group_name",
        "cached_members",
        "member_sync_status",
        "last_member_sync_at",
        "member_sync_error",
    ]
    list_filter = ["member_sync_status", ArtistStalenessFilter, "organization"]
    search_fields = ["name", "whatsapp_group_id", "whatsapp_group_name"]
    readonly_fields = [
        "whatsapp_group_name",
        "member_sync_status",
        "member_sync_error",
        "last_member_sync_at",
        "member_sync_attempted_at",
        "created_at",
        "updated_at",
    ]
    fields = ["organization", "name", "whatsapp_group_id", *readonly_fields]
    actions = ["sync_members_now"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(_members=Count("group_members"))

    @admin.display(description="cached members", ordering="_members")
    def cached_members(self, obj: Artist) -> int:
        return getattr(obj, "_members", 0)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """Also finds artists whose group has the searched phone number, in any spelling."""
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        phone = _search_phone(request, search_term) if search_term else None
        if phone:
            results |= queryset.filter(group_members__member_phone=phone)
            may_have_duplicates = True
        return results, may_have_duplicates

    def save_model(self, request: HttpRequest, obj: Artist, form: Any, change: bool) -> None:
        # Through the services, so a new or changed group id queues a sync after commit.
        self.assign_organization(request, obj)
        if change:
            saved = services.artist_update(
                artist=obj, name=obj.name, whatsapp_group_id=obj.whatsapp_group_id
            )
        else:
            saved = services.artist_create(
                organization=obj.organization,
                name=obj.name,
                whatsapp_group_id=obj.whatsapp_group_id,
            )
        obj.pk = saved.pk
        obj.refresh_from_db()

    @admin.action(description="Sync members now", permissions=["change"])
    def sync_members_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        started, skipped = 0, []
        for artist in queryset.select_related("organization"):
            try:
                services.group_members_sync_start(organization=artist.organization, artist=artist)
                started += 1
            except ApplicationError as exc:
                skipped.append(exc.message)
        if started:
            self.message_user(
                request,
                f"Member sync queued for {started} artist(s); see progress on the Artists page.",
                messages.SUCCESS,
            )
        for message in skipped:
            self.message_user(request, message, messages.WARNING)


@admin.register(ArtistWhatsAppGroupMember)
class ArtistWhatsAppGroupMemberAdmin(OrganizationScopedAdmin):
    organization_path = "artist__organization"

    list_display = [
        "member_phone",
        "member_wa_id",
        "member_rank",
        "artist",
        "whatsapp_group_id",
        "whatsapp_group_name",
        "last_synced_at",
        "sync_status",
        "sync_error",
    ]
    list_filter = ["sync_status", MemberStalenessFilter, "member_rank"]
    search_fields = ["member_phone", "member_wa_id", "artist__name", "whatsapp_group_id"]
    list_select_related = ["artist"]
    show_full_result_count = False  # the cache can hold millions of rows
    readonly_fields = [f.name for f in ArtistWhatsAppGroupMember._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # rows come from the sync only

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        """A phone number in any spelling is searched as the stored digits (indexed)."""
        phone = _search_phone(request, search_term) if search_term else None
        if phone:
            return queryset.filter(member_phone=phone), False
        return super().get_search_results(request, queryset, search_term)
