"""The Artists page (htmx): phone lookup, artists and their member cache, sync with progress."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from artists_app import selectors, services
from artists_app.forms import ArtistForm, ArtistUpdateForm
from artists_app.models import Artist
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.htmx import HtmxHttpRequest
from whatsapp_crm.models import TaskRun
from whatsapp_crm.roles import Role, role_required
from whatsapp_crm.tenancy import organization_required
from whatsapp_crm.ui import client_event, toast


def _artist_or_404(request: HtmxHttpRequest, artist_id: Any) -> Artist:
    artist = selectors.artist_get(organization=request.organization, artist_id=artist_id)
    if artist is None:
        raise Http404("No such artist.")
    return artist


def _table_context(request: HtmxHttpRequest) -> dict[str, Any]:
    return {"artists": selectors.artist_list(organization=request.organization)}


def _health_context(request: HtmxHttpRequest) -> dict[str, Any]:
    return {"health": selectors.cache_health(organization=request.organization)}


def _progress_context(run: TaskRun | None) -> dict[str, Any]:
    return {"progress": selectors.sync_run_progress(run=run)}


@require_GET
@organization_required
def artists_page(request: HtmxHttpRequest) -> HttpResponse:
    context = {
        **_table_context(request),
        **_health_context(request),
        **_progress_context(selectors.sync_run_latest(organization=request.organization)),
        "form": ArtistForm(),
        "region": request.organization.effective_phone_region,
    }
    return render(request, "artists_app/page.html", context)


@require_POST
@organization_required
def artist_lookup(request: HtmxHttpRequest) -> HttpResponse:
    phone = request.POST.get("phone", "").strip()
    context: dict[str, Any] = {"query": phone, "result": None, "error": None}
    if phone:
        try:
            context["result"] = selectors.artist_lookup_by_phone(
                organization=request.organization, phone=phone
            )
        except ApplicationError as exc:
            context["error"] = exc.message
    return render(request, "artists_app/_lookup_results.html", context)


@require_GET
@organization_required
def artists_table(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "artists_app/_artists_table.html", _table_context(request))


@require_GET
@organization_required
def cache_health(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "artists_app/_cache_health.html", _health_context(request))


@require_POST
@role_required(Role.ADMIN)
def artist_create(request: HtmxHttpRequest) -> HttpResponse:
    """Invalid input answers 400 with the form and its errors (the form swaps them in, see
    _artist_form.html) and an error toast; nothing is written."""
    form = ArtistForm(request.POST)
    artist: Artist | None = None
    if form.is_valid():
        try:
            artist = services.artist_create(organization=request.organization, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(None, exc.message)
    if artist is None:
        response = render(request, "artists_app/_artist_form.html", {"form": form}, status=400)
        return toast(response, form.first_error(), "error")
    response = render(request, "artists_app/_artist_form.html", {"form": ArtistForm()})
    message = f"{artist.name} added."
    if artist.whatsapp_group_id:
        message += " Its group members are being synced."
        client_event(response, "syncStarted")
    client_event(response, "artistsChanged")
    return toast(response, message)


@require_POST
@role_required(Role.ADMIN)
def artist_update(request: HtmxHttpRequest, artist_id: UUID) -> HttpResponse:
    """Invalid input answers 400 with an error toast (the table stays as it was); nothing is
    written."""
    artist = _artist_or_404(request, artist_id)
    old_group = artist.whatsapp_group_id
    form = ArtistUpdateForm(request.POST)
    saved: Artist | None = None
    if form.is_valid():
        try:
            saved = services.artist_update(artist=artist, **form.changes())
        except ApplicationError as exc:
            form.add_error(None, exc.message)
    if saved is None:
        response = render(
            request, "artists_app/_artists_table.html", _table_context(request), status=400
        )
        return toast(response, form.first_error(), "error")
    response = render(request, "artists_app/_artists_table.html", _table_context(request))
    message = f"{saved.name} saved."
    if saved.whatsapp_group_id and saved.whatsapp_group_id != old_group:
        message += " The new group's members are being synced."
        client_event(response, "syncStarted")
    client_event(response, "healthChanged")
    return toast(response, message)


@require_GET
@organization_required
def artist_members(request: HtmxHttpRequest, artist_id: UUID) -> HttpResponse:
    artist = _artist_or_404(request, artist_id)
    members = list(selectors.artist_members(artist=artist))
    return render(
        request, "artists_app/_artist_members.html", {"artist": artist, "members": members}
    )


@require_POST
@role_required(Role.ADMIN)
def sync_start(request: HtmxHttpRequest) -> HttpResponse:
    artist_id = request.POST.get("artist_id") or None
    artist = _artist_or_404(request, artist_id) if artist_id else None
    try:
        run = services.group_members_sync_start(organization=request.organization, artist=artist)
    except ApplicationError as exc:
        run = selectors.sync_run_latest(organization=request.organization)
        response = render(request, "artists_app/_sync_progress.html", _progress_context(run))
        return toast(response, exc.message, "error")
    response = render(request, "artists_app/_sync_progress.html", _progress_context(run))
    label = artist.name if artist else "all artists"
    return toast(response, f"Member sync of {label} started.", "info")


@require_GET
@organization_required
def sync_progress(request: HtmxHttpRequest) -> HttpResponse:
    """The progress partial; polled every second while the run is queued or running."""
    run_id = request.GET.get("run")
    if run_id:
        run = selectors.sync_run_get(organization=request.organization, run_id=run_id)
        if run is None:
            raise Http404("No such sync run.")
    else:
        run = selectors.sync_run_latest(organization=request.organization)
    context = _progress_context(run)
    response = render(request, "artists_app/_sync_progress.html", context)
    if run is not None and run_id and not context["progress"].active:
        # The poll that sees the run finish refreshes the table and the health panel, once.
        client_event(response, "artistsChanged")
        if run.state == TaskRun.State.SUCCESS:
            result = run.result or {}
            failed = result.get("fail_count", 0)
            ok = result.get("success_count", 0)
            level = "warning" if failed else "success"
            toast(response, f"Member sync finished: {ok} synced, {failed} failed.", level)
        elif run.state == TaskRun.State.FAILURE:
            toast(response, f"Member sync failed: {run.error}", "error")
    return response
