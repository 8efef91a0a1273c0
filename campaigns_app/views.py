"""Pages: campaigns (list, new or duplicated, detail with live progress, results CSV) and the
queue (a page of rows with search, a cheap change poll).

Page POSTs go through `campaigns_app.forms` (the API's limits); the queue-row buttons and their
POSTs come from `campaigns_app.row_actions` (the table the admin uses too). The forms' helpers
(group search, character count, preview, send-time estimate) are static/campaigns_app/forms.js."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from campaigns_app import forms, selectors, services
from campaigns_app.models import NotificationCampaign, ScheduledWhatsAppMessage
from campaigns_app.row_actions import row_action_get, row_buttons
from sessions_app.models import WhatsAppSession
from whatsapp_crm.csv_export import csv_filename, csv_response
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.htmx import HtmxHttpRequest
from whatsapp_crm.roles import Role, role_required
from whatsapp_crm.tenancy import organization_required
from whatsapp_crm.ui import Level, client_event, toast

QueueStatus = ScheduledWhatsAppMessage.Status
# Quiet queue page: it still asks every 10 s whether anything changed (an answer of no body).
QUEUE_POLL_ACTIVE = "2s"
QUEUE_POLL_QUIET = "10s"
QUEUE_DAYS = (date(2000, 1, 1), date(9000, 12, 31))  # the `day` filter's sane range


def _form_context() -> dict[str, Any]:
    now = timezone.localtime()
    return {
        "now_local": now.strftime(forms.DATETIME_LOCAL),
        "now_local_seconds": now.strftime("%Y-%m-%dT%H:%M:%S"),
        "now_epoch_ms": int(now.timestamp() * 1000),
        "timezone_name": timezone.get_current_timezone_name(),
        "limits": forms.TEXT_LIMITS,
        "rate_per_minute": selectors.send_rate_per_minute(),
    }


def _group_picker_context(
    request: HtmxHttpRequest, session: WhatsAppSession | None, selected: set[str]
) -> dict[str, Any]:
    picker = (
        selectors.campaign_group_choices(organization=request.organization, session=session)
        if session
        else {"groups": [], "community_parents": []}
    )
    picked = [g for g in picker["groups"] if str(g.pk) in selected]
    return {
        **picker,
        "session": session,
        "selected": selected,
        "picked_count": len(picked),
        "estimate": selectors.send_time_estimate(groups=len(picked)),
    }


def _session_pick(sessions: list[WhatsAppSession], picked: Any) -> WhatsAppSession | None:
    """The session asked for, else the first connected one, else the first one."""
    session = next((s for s in sessions if str(s.pk) == str(picked or "")), None)
    if session is None:
        connected = [s for s in sessions if s.status == WhatsAppSession.Status.CONNECTED]
        session = connected[0] if connected else (sessions[0] if sessions else None)
    return session


def _submitted(post: QueryDict, names: list[str]) -> dict[str, Any]:
    """What the user typed, to show the form again after an error."""
    return {name: post.get(name, "") for name in names}


# --- campaigns ---------------------------------------------------------------------------------


@require_GET
@organization_required
def campaigns_page(request: HtmxHttpRequest) -> HttpResponse:
    campaigns = selectors.campaign_list(organization=request.organization)[:200]
    return render(request, "campaigns_app/campaigns_page.html", {"campaigns": campaigns})


def _new_campaign_context(
    request: HtmxHttpRequest,
    *,
    data: dict[str, Any],
    errors: list[str] | None = None,
    past_time: bool = False,
) -> dict[str, Any]:
    sessions = selectors.session_choices(organization=request.organization)
    session = _session_pick(sessions, data.get("session"))
    return {
        "sessions": sessions,
        "data": data,
        "errors": errors or [],
        "past_time": past_time,
        **_form_context(),
        **_group_picker_context(request, session, set(data.get("group_ids", []))),
    }


@require_http_methods(["GET", "POST"])
@organization_required
def campaign_new(request: HtmxHttpRequest) -> HttpResponse:
    """GET `?from=<campaign id>` fills the form from an earlier campaign ("Duplicate")."""
    if request.method == "GET":
        data: dict[str, Any] = {"session": request.GET.get("session")}
        if request.GET.get("from"):
            copied = selectors.campaign_duplicate_data(
                organization=request.organization, pk=request.GET["from"]
            )
            if copied is None:
                raise Http404("No such campaign.")
            data = copied
        context = _new_campaign_context(request, data=data)
        return render(request, "campaigns_app/campaign_new_page.html", context)

    form = forms.CampaignForm(request.POST, organization=request.organization)
    if form.is_valid():
        data = form.cleaned_data
        try:
            campaign = services.campaign_create(
                organization=request.organization,
                session=data["session"],
                name=data["name"],
                message=data["message"],
                group_ids=data["group_ids"],
                scheduled_for=data["send_at"],
                created_by=request.user,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            text = f"Campaign “{campaign.name}” created: " + selectors.send_time_estimate(
                groups=campaign.total_groups
            )
            messages.success(request, text + ".")
            return redirect("campaigns:detail", pk=campaign.pk)
    typed = _submitted(request.POST, ["session", "name", "message", "when", "scheduled_for"])
    typed["group_ids"] = request.POST.getlist("group_ids")
    context = _new_campaign_context(
        request, data=typed, errors=forms.error_messages(form), past_time=form.past_time
    )
    return render(request, "campaigns_app/campaign_new_page.html", context, status=400)


@require_GET
@organization_required
def campaign_group_picker(request: HtmxHttpRequest) -> HttpResponse:
    """The group picker for the session picked in a form (htmx): checkboxes for a campaign, or
    with `?mode=single` one recipient for the queue page's schedule form."""
    sessions = selectors.session_choices(organization=request.organization)
    session = _session_pick(sessions, request.GET.get("session"))
    context = _group_picker_context(request, session, set())
    context["single"] = request.GET.get("mode") == "single"
    return render(request, "campaigns_app/_campaign_group_picker.html", context)


def _progress_context(campaign: NotificationCampaign) -> dict[str, Any]:
    groups = list(selectors.campaign_groups(campaign=campaign))
    return {
        "campaign": campaign,
        "groups": groups,
        "watching_late_errors": selectors.campaign_watches_late_errors(
            campaign=campaign, groups=groups
        ),
    }


@require_GET
@organization_required
def campaign_detail(request: HtmxHttpRequest, pk: Any) -> HttpResponse:
    campaign = selectors.campaign_get(organization=request.organization, pk=pk)
    return render(request, "campaigns_app/campaign_detail_page.html", _progress_context(campaign))


@require_GET
@organization_required
def campaign_results_csv(request: HtmxHttpRequest, pk: Any) -> HttpResponse:
    """Each group's result as a spreadsheet-safe CSV download (times in the current zone)."""
    campaign = selectors.campaign_get(organization=request.organization, pk=pk)
    rows = (
        (g.group_name, g.group_jid, g.status, g.sent_at, g.message_id, g.error_message)
        for g in selectors.campaign_groups(campaign=campaign)
    )
    return csv_response(
        filename=csv_filename(campaign.name, "results"),
        header=["group_name", "group_jid", "status", "sent_at", "message_id", "error"],
        rows=rows,
    )


@require_GET
@organization_required
def campaign_progress(request: HtmxHttpRequest, pk: Any) -> HttpResponse:
    """Polled every second while the campaign is not final, then every 3 s while late WhatsApp
    errors may still arrive; the answer after that has no trigger, so polling stops."""
    campaign = selectors.campaign_get(organization=request.organization, pk=pk)
    return render(request, "campaigns_app/_campaign_progress.html", _progress_context(campaign))


def _campaign_answer(
    request: HtmxHttpRequest, campaign: NotificationCampaign, text: str, level: Level
) -> HttpResponse:
    """The progress partial with a toast (htmx), or the campaign page with a message."""
    campaign.refresh_from_db()
    if request.htmx:
        response = render(
            request, "campaigns_app/_campaign_progress.html", _progress_context(campaign)
        )
        return toast(response, text, level)
    {"error": messages.error, "info": messages.info}.get(level, messages.success)(request, text)
    return redirect("campaigns:detail", pk=campaign.pk)


@require_POST
@role_required(Role.ADMIN)
def campaign_retry_failed(request: HtmxHttpRequest, pk: Any) -> HttpResponse:
    campaign = selectors.campaign_get(organization=request.organization, pk=pk)
    queued = services.campaign_retry_failed(campaign=campaign)
    if not queued:
        return _campaign_answer(request, campaign, "No failed groups to retry.", "info")
    text = f"{queued} failed group{'s' if queued != 1 else ''} queued again"
    if campaign.scheduled_for > timezone.now():
        text += (
            f" for {timezone.localtime(campaign.scheduled_for):%Y-%m-%d %H:%M}, the campaign's time"
        )
    return _campaign_answer(request, campaign, text + ".", "success")


@require_POST
@role_required(Role.ADMIN)
def campaign_cancel(request: HtmxHttpRequest, pk: Any) -> HttpResponse:
    campaign = selectors.campaign_get(organization=request.organization, pk=pk)
    try:
        result = services.campaign_cancel(campaign=campaign)
    except ApplicationError as exc:
        return _campaign_answer(request, campaign, exc.message, "error")
    return _campaign_answer(
        request, campaign, result.message, "success" if result.cancelled else "info"
    )


# --- queue -------------------------------------------------------------------------------------


def _queue_filters(request: HtmxHttpRequest) -> selectors.QueueFilters:
    """Status, search, page and page size from the query string (or the old `status_filter`
    POST field); anything unknown falls back to the default."""
    status = request.GET.get("status") or request.POST.get("status_filter") or ""
    try:
        page = max(int(request.GET.get("page") or 1), 1)
    except ValueError:
        page = 1
    try:
        per_page = int(request.GET.get("per_page") or 0)
    except ValueError:
        per_page = 0
    try:  # `day=YYYY-MM-DD`: the rows whose outcome fell on that day (the start page's links)
        day = date.fromisoformat(request.GET.get("day") or "")
    except ValueError:
        day = None
    if day is not None and not QUEUE_DAYS[0] <= day <= QUEUE_DAYS[1]:
        day = None  # the next midnight of date.max does not exist
    return selectors.QueueFilters(
        status=status if status in QueueStatus.values else "",
        q=(request.GET.get("q") or "").replace("\x00", "")[:100].strip(),
        page=min(page, 1_000_000),
        per_page=per_page
        if per_page in selectors.QUEUE_PER_PAGE_CHOICES
        else selectors.QUEUE_PER_PAGE_CHOICES[0],
        day=day,
    )


def _query(filters: selectors.QueueFilters, **changes: Any) -> str:
    """The query string of the queue page for these filters (defaults left out)."""
    values = {
        "status": filters.status,
        "q": filters.q,
        "page": filters.page,
        "per_page": filters.per_page,
        "day": filters.day.isoformat() if filters.day else "",
        **changes,
    }
    query = QueryDict(mutable=True)
    for name, value in values.items():
        if name == "page" and value == 1:
            continue
        if name == "per_page" and value == selectors.QUEUE_PER_PAGE_CHOICES[0]:
            continue
        if value:
            query[name] = str(value)
    return query.urlencode()


def _queue_context(request: HtmxHttpRequest, *, swap_outages: bool = True) -> dict[str, Any]:
    """The table, and the outage banner (swapped out of band by the table's htmx answers)."""
    filters = _queue_filters(request)
    page = selectors.queue_page(organization=request.organization, filters=filters)
    rows = list(page.object_list)
    filters = selectors.QueueFilters(
        status=filters.status,
        q=filters.q,
        page=page.number,
        per_page=filters.per_page,
        day=filters.day,
    )
    counts = selectors.queue_status_counts(organization=request.organization, day=filters.day)
    late_errors = selectors.queue_late_errors(rows=rows)
    table = []
    for row in rows:
        late_error = late_errors[row.id].text if row.id in late_errors else ""
        # The group's name on the session, else the one its campaign stored; JIDs of people
        # (…@s.whatsapp.net) have none.
        row.display_name = row.recipient_name or (
            row.campaign_group.group_name if row.campaign_group_id else ""
        )
        table.append((row, row_buttons(row.status, late_error=late_error), late_error))
    active = selectors.queue_is_active(rows=rows)
    return {
        "rows": rows,
        "table": table,
        "page": page,
        "filters": filters,
        "query": _query(filters),
        "query_without_status": _query(filters, status="", page=1),
        "query_without_day": _query(filters, day="", page=1),
        "query_prev": _query(filters, page=page.number - 1) if page.has_previous() else None,
        "query_next": _query(filters, page=page.number + 1) if page.has_next() else None,
        "per_page_choices": [
            (n, _query(filters, per_page=n, page=1)) for n in selectors.QUEUE_PER_PAGE_CHOICES
        ],
        "outages": selectors.queue_outages(organization=request.organization),
        "swap_outages": swap_outages,
        "status": filters.status,
        "status_label": QueueStatus(filters.status).label if filters.status else "",
        "statuses": [
            (value, label, counts[value], _query(filters, status=value, page=1))
            for value, label in QueueStatus.choices
        ],
        "polling": active,
        "poll_every": QUEUE_POLL_ACTIVE if active else QUEUE_POLL_QUIET,
        "fingerprint": selectors.queue_fingerprint(organization=request.organization),
    }


def _queue_page_context(
    request: HtmxHttpRequest,
    *,
    data: dict[str, Any],
    errors: list[str] | None = None,
    past_time: bool = False,
) -> dict[str, Any]:
    sessions = selectors.session_choices(organization=request.organization)
    session = _session_pick(sessions, data.get("session"))
    return {
        **_queue_context(request, swap_outages=False),
        **_form_context(),
        **_group_picker_context(request, session, set()),
        "single": True,
        "sessions": sessions,
        "data": data,
        "errors": errors or [],
        "past_time": past_time,
    }


@require_GET
@organization_required
def queue_page(request: HtmxHttpRequest) -> HttpResponse:
    context = _queue_page_context(request, data={})
    return render(request, "campaigns_app/queue_page.html", context)


@require_GET
@organization_required
def queue_table(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "campaigns_app/_queue_table.html", _queue_context(request))


@require_GET
@organization_required
def queue_poll(request: HtmxHttpRequest) -> HttpResponse:
    """Has the queue changed since the table was drawn (`?v=<fingerprint>`)? 204 with no body
    either way; when it has, the `queueChanged` client event makes the table reload itself."""
    response = HttpResponse(status=204)
    if request.GET.get("v") != selectors.queue_fingerprint(organization=request.organization):
        client_event(response, "queueChanged")
    return response


@require_POST
@organization_required
def queue_create(request: HtmxHttpRequest) -> HttpResponse:
    form = forms.QueueMessageForm(request.POST, organization=request.organization)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.scheduled_message_create(
                organization=request.organization,
                session=data["session"],
                recipient_jid=data["recipient_jid"],
                message=data["message"],
                scheduled_for=data["send_at"],
                created_by=request.user,
            )
        except ApplicationError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Message queued.")
            if request.htmx:
                return HttpResponseClientRedirect(reverse("campaigns:queue"))
            return redirect("campaigns:queue")
    errors = forms.error_messages(form)
    if request.htmx:
        return toast(HttpResponse(status=400), " ".join(errors), "error")
    typed = _submitted(
        request.POST, ["session", "recipient_jid", "message", "when", "scheduled_for"]
    )
    context = _queue_page_context(request, data=typed, errors=errors, past_time=form.past_time)
    return render(request, "campaigns_app/queue_page.html", context, status=400)


@require_POST
@role_required(Role.ADMIN)
def queue_action(request: HtmxHttpRequest, pk: Any, action: str) -> HttpResponse:
    row_action = row_action_get(action)
    if row_action is None:
        raise Http404("Unknown action.")
    row = selectors.scheduled_message_get(organization=request.organization, pk=pk)
    text = row_action.done
    level: Level = "success"
    try:
        row_action.run(row, request.POST.get("confirm") == "1")
    except ApplicationError as exc:
        text, level = exc.message, "error"
    if request.htmx:
        response = render(request, "campaigns_app/_queue_table.html", _queue_context(request))
        return toast(response, text, level)
    (messages.success if level == "success" else messages.error)(request, text)
    query = _query(_queue_filters(request))
    return redirect(reverse("campaigns:queue") + (f"?{query}" if query else ""))
