"""The Artists page (htmx): phone lookup, artists and their member cache, sync with progress."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.middleware import HtmxDetails

from artists_app import selectors, services
from artists_app.models import Artist
from artists_app.services import ACTIVE_RUN_WINDOW
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.models import TaskRun
from whatsapp_crm.tenancy import organization_required
from whatsapp_crm.ui import client_event, toast

ACTIVE_STATES = (TaskRun.State.PENDING, TaskRun.State.STARTED)


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _artist_or_404(request: HttpRequest, artist_id: Any) -> Artist:
    artist = selectors.artist_get(organization=request.organization, artist_id=artist_id)
    if artist is None:
        raise Http404("No such artist.")
    return artist


def _table_context(request: HttpRequest) -> dict[str, Any]:
    return {"artists": selectors.artist_list(organization=request.organization)}


def _health_context(request: HttpRequest) -> dict[str, Any]:
    return {"health": selectors.cache_health(organization=request.organization)}


def _progress_context(run: TaskRun | None) -> dict[str, Any]:
    context: dict[str, Any] = {"run": run, "active": False, "percent": 0, "failed": []}
    if run is None:
        return context
    stalled = run.state in ACTIVE_STATES and run.updated_at < timezone.now() - ACTIVE_RUN_WINDOW
    context["stalled"] = stalled
    context["active"] = run.state in ACTIVE_STATES and not stalled
    context["percent"] = round(100 * run.done / run.total) if run.total else 0
    if run.state == TaskRun.State.SUCCESS and run.total == 0:
        context["percent"] = 100
    result = run.result or {}
    context["failed"] = [r for r in result.get("results", []) if r.get("status") == "failed"]
    context["scope"] = "all artists" if not (run.params or {}).get("artist_id") else "one artist"
    if (run.params or {}).get("artist_id"):
        names = [r.get("name") for r in result.get("results", [])]
        artist = Artist.objects.filter(pk=run.params["artist_id"]).only("name").first()
        context["scope"] = names[0] if names else (artist.name if artist else "one artist")
    return context


@require_GET
@organization_required
def artists_page(request: HtmxHttpRequest) -> HttpResponse:
    context = {
        **_table_context(request),
        **_health_context(request),
        **_progress_context(selectors.sync_run_latest(organization=request.organization)),
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
@organization_required
def artist_create(request: HtmxHttpRequest) -> HttpResponse:
    name = request.POST.get("name", "")
    group_id = request.POST.get("whatsapp_group_id", "")
    try:
        artist = services.artist_create(
            organization=request.organization, name=name, whatsapp_group_id=group_id
        )
    except ApplicationError as exc:
        context = {"error": exc.message, "name": name, "whatsapp_group_id": group_id}
        return toast(
            render(request, "artists_app/_artist_form.html", context), exc.message, "error"
        )
    response = render(request, "artists_app/_artist_form.html", {})
    message = f"{artist.name} added."
    if artist.whatsapp_group_id:
        message += " Its group members are being synced."
        client_event(response, "syncStarted")
    client_event(response, "artistsChanged")
    return toast(response, message)


@require_POST
@organization_required
def artist_update(request: HtmxHttpRequest, artist_id: str) -> HttpResponse:
    artist = _artist_or_404(request, artist_id)
    old_group = artist.whatsapp_group_id
    try:
        artist = services.artist_update(
            artist=artist,
            name=request.POST.get("name"),
            whatsapp_group_id=request.POST.get("whatsapp_group_id"),
        )
    except ApplicationError as exc:
        response = render(request, "artists_app/_artists_table.html", _table_context(request))
        return toast(response, exc.message, "error")
    response = render(request, "artists_app/_artists_table.html", _table_context(request))
    message = f"{artist.name} saved."
    if artist.whatsapp_group_id and artist.whatsapp_group_id != old_group:
        message += " The new group's members are being synced."
        client_event(response, "syncStarted")
    client_event(response, "healthChanged")
    return toast(response, message)


@require_GET
@organization_required
def artist_members(request: HtmxHttpRequest, artist_id: str) -> HttpResponse:
    artist = _artist_or_404(request, artist_id)
    members = list(selectors.artist_members(artist=artist))
    return render(
        request, "artists_app/_artist_members.html", {"artist": artist, "members": members}
    )


@require_POST
@organization_required
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
    if run_id and not context["active"]:
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
