"""The groups section of the sessions page (/settings/whatsapp/), one per session, via htmx.

The sessions page loads `groups:section` into `<div class="groups-section" id="groups-<id>">`.
Errors are rendered with status 200 (htmx 2 does not swap 4xx/5xx) plus an error toast.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from groups_app.selectors import group_list, group_stats
from groups_app.services import GroupSyncDatabaseError, GroupSyncResult, group_sync
from sessions_app.models import WhatsAppSession
from sessions_app.selectors import session_get
from whatsapp_crm.gateway import GatewayError
from whatsapp_crm.htmx import HtmxHttpRequest
from whatsapp_crm.roles import Role, role_required
from whatsapp_crm.tenancy import organization_required
from whatsapp_crm.ui import client_event, toast

# More rows than this make the page slow; the filter narrows the list.
TABLE_LIMIT = 200


def _table_context(request: HtmxHttpRequest, session: WhatsAppSession) -> dict[str, Any]:
    # The filter travels with Refresh and Sync too (hx-include), so the list keeps it.
    search = (request.GET.get("q") or request.POST.get("q") or "").strip()[:100]
    groups = group_list(
        organization=session.organization, session=session, active=True, search=search
    )
    rows = list(groups[: TABLE_LIMIT + 1])
    stats = group_stats(session=session)
    return {
        "session": session,
        "groups": rows[:TABLE_LIMIT],
        "truncated": len(rows) > TABLE_LIMIT,
        "table_limit": TABLE_LIMIT,
        "search": search,
        "stats": stats,
    }


def _render_section(
    request: HtmxHttpRequest,
    session: WhatsAppSession,
    *,
    result: GroupSyncResult | None = None,
    error: dict[str, Any] | None = None,
) -> HttpResponse:
    context = _table_context(request, session)
    context.update({"result": result, "error": error})
    return render(request, "groups_app/_groups_section.html", context)


@require_GET
@organization_required
def group_section(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = session_get(organization=request.organization, pk=session_id)
    return _render_section(request, session)


@require_GET
@organization_required
def group_table(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = session_get(organization=request.organization, pk=session_id)
    return render(request, "groups_app/_groups_table.html", _table_context(request, session))


@require_POST
@role_required(Role.ADMIN)
def group_sync_view(request: HtmxHttpRequest, session_id: uuid.UUID) -> HttpResponse:
    session = session_get(organization=request.organization, pk=session_id)
    try:
        result = group_sync(session=session)
    except GatewayError as exc:
        error = {"upstream": "vps", "message": exc.message, "code": exc.code}
        response = _render_section(request, session, error=error)
        return toast(response, f"Group sync failed: {exc.message} (code {exc.code})", "error")
    except GroupSyncDatabaseError as exc:
        error = {"upstream": "db", "message": exc.message, "code": exc.code}
        response = _render_section(request, session, error=error)
        return toast(response, f"Group sync failed: {exc.message} (code {exc.code})", "error")

    response = _render_section(request, session, result=result)
    if result.saved_count == 0 and result.vps_count > 0:
        toast(response, _nothing_saved_text(result), "warning")
    elif result.vps_count == 0:
        toast(response, "The gateway returned no groups for this session.", "warning")
    else:
        noun = "group" if result.saved_count == 1 else "groups"
        toast(response, f"Saved {result.saved_count} {noun}", "success")
    return client_event(
        response, "groupsChanged", {"session": str(session.pk), "saved": result.saved_count}
    )


def _nothing_saved_text(result: GroupSyncResult) -> str:
    reasons = []
    if result.skipped_community_parents:
        reasons.append(
            f"{result.skipped_community_parents} are community parents, which cannot receive "
            "messages"
        )
    if result.invalid_count:
        reasons.append(f"{result.invalid_count} had no usable group id")
    if result.duplicate_count:
        reasons.append(f"{result.duplicate_count} were listed twice")
    because = "; ".join(reasons) or "none of them can receive messages"
    return f"The gateway returned {result.vps_count} groups but 0 were saved: {because}."
