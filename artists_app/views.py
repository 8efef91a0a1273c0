"""The Artists page (htmx): add form, phone lookup, artists (active or archived) with a panel per
artist (members, CSV export, edit, archive/delete), sync with progress."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from artists_app import selectors, services
from artists_app.forms import ArtistForm, ArtistUpdateForm
from artists_app.models import Artist
from whatsapp_crm.csv_export import csv_filename, csv_response
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


def _show_archived(request: HtmxHttpRequest) -> bool:
    return (request.GET.get("archived") or request.POST.get("archived")) == "1"


def _table_context(request: HtmxHttpRequest, *, archived: bool | None = None) -> dict[str, Any]:
    archived = _show_archived(request) if archived is None else archived
    return {
        "artists": selectors.artist_list(organization=request.organization, archived=archived),
        "archived": archived,
        "archived_count": selectors.artist_archived_count(organization=request.organization),
    }


def artist_link(artist: Artist) -> str:
    """The Artists page with this artist's panel open (in the archived list if it is archived)."""
    query = QueryDict(mutable=True)
    if artist.is_archived:
        query["archived"] = "1"
    query["artist"] = str(artist.pk)
    return f"{reverse('artists:page')}?{query.urlencode()}#artist-panel"


def _existing_artist(exc: ApplicationError, request: HtmxHttpRequest) -> dict[str, Any] | None:
    """The artist that already has the group (services.artist_group_id_refuse_taken), linked."""
    existing_id = exc.details.get("existing_artist_id")
    if not existing_id:
        return None
    existing = selectors.artist_get(organization=request.organization, artist_id=existing_id)
    if existing is None:
        return None
    return {"name": existing.name, "url": artist_link(existing), "archived": existing.is_archived}


def _health_context(request: HtmxHttpRequest) -> dict[str, Any]:
    return {"health": selectors.cache_health(organization=request.organization)}


def _progress_context(run: TaskRun | None) -> dict[str, Any]:
    return {"progress": selectors.sync_run_progress(run=run)}


def _panel_context(
    artist: Artist, *, form: ArtistUpdateForm | None = None, existing: dict | None = None
) -> dict[str, Any]:
    return {
        "artist": artist,
        "members": list(selectors.artist_members(artist=artist)),
        "edit_form": form,
        "existing": existing,
    }


@require_GET
@organization_required
def artists_page(request: HtmxHttpRequest) -> HttpResponse:
    """`?archived=1` lists the archived artists; `?artist=<id>` opens that artist's panel."""
    opened = None
    if request.GET.get("artist"):
        opened = selectors.artist_get(
            organization=request.organization, artist_id=request.GET["artist"]
        )
    context = {
        **_table_context(request),
        **_health_context(request),
        **_progress_context(selectors.sync_run_latest(organization=request.organization)),
        "form": ArtistForm(),
        "region": request.organization.effective_phone_region,
        "panel": _panel_context(opened) if opened else None,
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
    existing = None
    if form.is_valid():
        try:
            artist = services.artist_create(organization=request.organization, **form.cleaned_data)
        except ApplicationError as exc:
            existing = _existing_artist(exc, request)
            form.add_error("whatsapp_group_id" if existing else None, exc.message)
    if artist is None:
        context = {"form": form, "existing": existing}
        response = render(request, "artists_app/_artist_form.html", context, status=400)
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
    """From the artist's panel: answers the panel. Invalid input answers 400 with the panel's
    edit form and its errors (a group id another artist has links to that artist) and an error
    toast; nothing is written."""
    artist = _artist_or_404(request, artist_id)
    old_group = artist.whatsapp_group_id
    form = ArtistUpdateForm(request.POST)
    saved: Artist | None = None
    existing = None
    if form.is_valid():
        try:
            saved = services.artist_update(artist=artist, **form.changes())
        except ApplicationError as exc:
            existing = _existing_artist(exc, request)
            form.add_error("whatsapp_group_id" if existing else None, exc.message)
    if saved is None:
        context = _panel_context(artist, form=form, existing=existing)
        response = render(request, "artists_app/_artist_panel.html", context, status=400)
        return toast(response, form.first_error(), "error")
    response = render(request, "artists_app/_artist_panel.html", _panel_context(saved))
    message = f"{saved.name} saved."
    if saved.whatsapp_group_id and saved.whatsapp_group_id != old_group:
        message += " The new group's members are being synced."
        client_event(response, "syncStarted")
    client_event(response, "artistsChanged")
    return toast(response, message)


@require_GET
@organization_required
def artist_members(request: HtmxHttpRequest, artist_id: UUID) -> HttpResponse:
    artist = _artist_or_404(request, artist_id)
    members = list(selectors.artist_members(artist=artist))
    return render(
        request, "artists_app/_artist_members.html", {"artist": artist, "members": members}
    )


@require_GET
@organization_required
def artist_panel(request: HtmxHttpRequest, artist_id: UUID) -> HttpResponse:
    """The artist's own panel under the table: its members, CSV export, edit, archive/delete."""
    artist = _artist_or_404(request, artist_id)
    return render(request, "artists_app/_artist_panel.html", _panel_context(artist))


@require_GET
@organization_required
def artist_panel_closed(request: HtmxHttpRequest) -> HttpResponse:
    """The panel's place when no artist is open ("Close")."""
    return render(request, "artists_app/_artist_panel.html", {"artist": None})


@require_GET
@organization_required
def artist_members_csv(request: HtmxHttpRequest, artist_id: UUID) -> HttpResponse:
    """The artist's cached members as a spreadsheet-safe CSV download."""
    artist = _artist_or_404(request, artist_id)
    rows = (
        (
            artist.name,
            m.whatsapp_group_id,
            m.whatsapp_group_name,
            m.member_phone or "",
            "" if m.member_phone else m.member_wa_id,
            m.member_rank,
            m.last_synced_at,
            m.sync_status,
        )
        for m in selectors.artist_members(artist=artist)
    )
    return csv_response(
        filename=csv_filename(artist.name, "members"),
        header=[
            "artist",
            "whatsapp_group_id",
            "whatsapp_group_name",
            "member_phone",
            "privacy_id",
            "rank",
            "last_synced_at",
            "sync_status",
        ],
        rows=rows,
    )


def _closed_panel(request: HtmxHttpRequest, text: str) -> HttpResponse:
    """After archive/unarchive/delete: the panel closes, the table and health panel reload."""
    response = render(request, "artists_app/_artist_panel.html", {"artist": None})
    client_event(response, "artistsChanged")
    return toast(response, text)


@require_POST
@role_required(Role.ADMIN)
def artist_archive(request: HtmxHttpRequest, artist_id: UUID) -> HttpResponse:
    artist = services.artist_archive(artist=_artist_or_404(request, artist_id))
    return _closed_panel(
        request,
        f"{artist.name} archived: hidden from the list and the lookup, members kept. "
        "“Show archived” brings it back.",
    )


@require_POST
@role_required(Role.ADMIN)
def artist_unarchive(request: HtmxHttpRequest, artist_id: UUID) -> HttpResponse:
    artist = services.artist_unarchive(artist=_artist_or_404(request, artist_id))
    response = _closed_panel(request, f"{artist.name} is back in the list and the lookup.")
    if artist.whatsapp_group_id:
        client_event(response, "syncStarted")
    return response


@require_POST
@role_required(Role.ADMIN)
def artist_delete(request: HtmxHttpRequest, artist_id: UUID) -> HttpResponse:
    artist = _artist_or_404(request, artist_id)
    members = services.artist_delete(artist=artist)
    return _closed_panel(
        request, f"{artist.name} deleted with {members} cached member{'s' if members != 1 else ''}."
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
    finished = run is not None and bool(run_id) and not context["progress"].active
    if finished and selectors.sync_run_is_one_artist(run):
        # A one-artist run is over: its outcome goes to the toast and the artist's row; the card
        # goes back to the sync of all artists instead of showing this run until a reload.
        scope = context["progress"].scope
        context = _progress_context(selectors.sync_run_latest(organization=request.organization))
    else:
        scope = ""
    response = render(request, "artists_app/_sync_progress.html", context)
    if finished and run is not None:
        # The poll that sees the run finish refreshes the table and the health panel, once.
        client_event(response, "artistsChanged")
        what = f"Member sync of {scope}" if scope else "Member sync"
        if run.state == TaskRun.State.SUCCESS:
            result = run.result or {}
            failed = result.get("fail_count", 0)
            ok = result.get("success_count", 0)
            level = "warning" if failed else "success"
            toast(response, f"{what} finished: {ok} synced, {failed} failed.", level)
        elif run.state == TaskRun.State.FAILURE:
            toast(response, f"{what} failed: {run.error}", "error")
    return response
