"""Django admin scoped like the pages (INTERFACE.md §10).

A superuser sees and changes everything. Any other staff user sees and changes only the rows of
its own organization — in every changelist, change page and action — picks only its
organization's objects in foreign-key fields, and cannot move a row to another organization.
Every ModelAdmin of the project derives from `OrganizationScopedAdmin` (one rule, not a copy per
app); models reach their organization through `organization_path`.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from whatsapp_crm.models import Organization
from whatsapp_crm.tenancy import organization_for_user


def admin_organization(request: HttpRequest) -> Organization | None:
    """The organization a non-superuser administers (None: it sees nothing)."""
    cached = getattr(request, "_admin_organization", False)
    if cached is False:
        cached = organization_for_user(request.user)
        request._admin_organization = cached  # type: ignore[attr-defined]
    return cached


def _organization_lookup(model: type[Model]) -> str | None:
    """How `model` reaches an organization: a lookup path, or None for models that belong to
    no organization (those are for superusers only)."""
    if model is Organization:
        return "pk"
    if model is get_user_model():
        return "organization_membership__organization"
    names = {f.name for f in model._meta.get_fields()}
    if "organization" in names:
        return "organization"
    return None


class OrganizationScopedAdmin(admin.ModelAdmin):
    """Base of every ModelAdmin: rows, foreign-key choices and saves limited to the staff user's
    organization unless the user is a superuser. `organization_path` overrides how the model
    reaches its organization (e.g. "campaign__organization"); a model with no path at all is
    superuser-only."""

    organization_path: str | None = None

    def _path(self) -> str | None:
        return self.organization_path or _organization_lookup(self.model)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        path = self._path()
        organization = admin_organization(request)
        if path is None or organization is None:
            return queryset.none()
        return queryset.filter(**{path: organization.pk})

    def has_module_permission(self, request: HttpRequest) -> bool:
        if not request.user.is_superuser and self._path() is None:
            return False
        return super().has_module_permission(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not request.user.is_superuser and self._path() is None:
            return False
        return super().has_view_permission(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not request.user.is_superuser and self._path() is None:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not request.user.is_superuser and self._path() is None:
            return False
        return super().has_delete_permission(request, obj)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        if not request.user.is_superuser and self._path() is None:
            return False
        return super().has_add_permission(request, *args)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser and _has_field(self.model, "organization"):
            fields.append("organization")
        return fields

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters = super().get_list_filter(request)
        if request.user.is_superuser:
            return filters
        return [f for f in filters if _filter_field(f) != "organization"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        limit_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        limit_choices(db_field, request, kwargs)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        self.assign_organization(request, obj)
        super().save_model(request, obj, form, change)

    def assign_organization(self, request: HttpRequest, obj: Any) -> None:
        """A row a non-superuser adds belongs to the user's organization (the field is
        read-only for them). ModelAdmins that save through a service call this first."""
        if (
            not request.user.is_superuser
            and _has_field(type(obj), "organization")
            and obj.organization_id is None
        ):
            obj.organization = admin_organization(request)


class OrganizationScopedInline(admin.options.InlineModelAdmin):
    """Mixin for inlines: foreign-key choices limited like `OrganizationScopedAdmin`."""

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        limit_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


def limit_choices(db_field: Any, request: HttpRequest, kwargs: dict[str, Any]) -> None:
    """For a non-superuser, a relation field offers only its organization's objects."""
    if request.user.is_superuser:
        return
    related = db_field.remote_field.model
    path = _organization_lookup(related)
    if path is None:
        return
    organization = admin_organization(request)
    base = related._default_manager
    kwargs["queryset"] = (
        base.filter(**{path: organization.pk}).distinct() if organization else base.none()
    )


def _filter_field(list_filter: Any) -> str | None:
    """The field name of a `list_filter` entry ("organization" or ("organization", Filter))."""
    if isinstance(list_filter, str):
        return list_filter.split("__")[0]
    if isinstance(list_filter, (tuple, list)) and list_filter:
        return str(list_filter[0]).split("__")[0]
    return None


def _has_field(model: type[Model], name: str) -> bool:
    return any(f.name == name for f in model._meta.get_fields())
