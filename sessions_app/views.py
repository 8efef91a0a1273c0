"""The sessions page (/settings/whatsapp/) and the htmx partials it swaps.

Each session card is `_session_card.html` (id "session-<id>"), wrapped with the groups section in
`_session_block.html` (id "session-block-<id>"). Every response to htmx is a 200 partial, errors
included (htmx 2 does not swap 4xx/5xx): the card shows the error inline and a toast says it.

Pages stay true while open: a settled card (connected, disconnected, unreachable) polls
`sessions:card` every few seconds with the version of what it shows (`v`); the answer is
204 with no body while nothing changed, else the new card (and a toast when the status changed).
The "a number is down" banner of every page polls `sessions:down-banner` the same way.
"""

from __future__ import annotations

import uuid
from typing import Any

import segno
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from campaigns_app.selectors import session_outage
from gateways_app import selectors as gateway_selectors
from sessions_app import selectors, services
from sessions_app.context_processors import SessionsDown
from sessions_app.models import WhatsAppSession
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.gateway import GatewayError
from whatsapp_crm.htmx import HtmxHttpRequest
from whatsapp_crm.roles import Role, role_required
from whatsapp_crm.tenancy import organization_required
from whatsapp_crm.ui import client_event, toast

Status = WhatsAppSession.Status
SESSIONS_CHANGED = "sessionsChanged"
SESSION_CREATED = "sessionCreated"
# How often a settled card asks whether its session changed (a webhook, another tab, a worker).
CARD_POLL = "every 5s"
# The states a card shows that poll `sessions:card` (verifying and connecting have their own).
SETTLED_STATES = (Status.CONNECTED, Status.DISCONNECTED, "unreachable")


def qr_svg(text: str) -> str:
    """The QR code as inline SVG, rendered on the server (no script, no third party)."""
    return mark_safe(segno.make_qr(text, error="m").svg_inline(scale=4, border=2, omitsize=True))


def _card_version(session: WhatsAppSession, outage: dict[str, Any] | None) -> str:
    """What a card shows of the stored session: a poll compares it to tell "nothing changed"."""
    return selectors.fingerprint(
        session.status,
        session.phone_number,
        session.name,
        session.last_error,
        session.last_error_at,
        (outage["since"], outage["waiting"]) if outage else None,
    )


def _card_context(
    session: WhatsAppSession,
    *,
    state: str | None = None,
    qr: str | None = None,
    error: str | None = None,
    poll_trigger: str = "every 2s",
    shown_number: str | None = None,
) -> dict[str, Any]:
    state = state or session.status
    outage = session_outage(session=session)
    # The card showed a number the session no longer holds: it moved to a newer session (or an
    # admin cleared it). Say so instead of showing a number the history no longer shows.
    moved_from = shown_number if shown_number and not session.phone_number else None
    return {
        "session": session,
        "state": state,
        "qr_svg": qr_svg(qr) if qr else None,
        "error": _sentence(error, "") if error else None,
        "poll_trigger": poll_trigger,
        "outage": outage,
        "version": _card_version(session, outage),
        "card_poll": CARD_POLL if state in SETTLED_STATES else None,
        "moved_from": moved_from,
        "moved_to": selectors.session_holding(
            organization_id=session.organization_id, phone=moved_from
        )
        if moved_from
        else None,
    }


def _render_card(request: HtmxHttpRequest, session: WhatsAppSession, **kwargs: Any) -> HttpResponse:
    return render(request, "sessions_app/_session_card.html", _card_context(session, **kwargs))


def _render_block(
    request: HtmxHttpRequest, session: WhatsAppSession, **kwargs: Any
) -> HttpResponse:
    return render(request, "sessions_app/_session_block.html", _card_context(session, **kwargs))


def _shown_fields(session: WhatsAppSession) -> tuple:
    """What the history table shows of a session: when it changes, the table reloads."""
    return (session.status, session.phone_number, session.last_error)


def _first_qr(session: WhatsAppSession) -> tuple[WhatsAppSession, str | None, str | None]:
    """Right after (re)starting a session: its first QR code, so the panel is not empty."""
    try:
        poll = services.session_poll_qr(session=session)
    except GatewayError as exc:
        return session, None, exc.message
    return poll.session, poll.qr, None


# --- page ---------------------------------------------------------------------------------------


@require_GET
@organization_required
def sessions_page(request: HtmxHttpRequest) -> HttpResponse:
    organization = request.organization
    current = []
    for session in selectors.session_current_list(organization=organization):
        # Stored "connected" is a claim, not a fact: verify it on load (all cards in parallel).
        state = "verifying" if session.status == Status.CONNECTED else None
        current.append(_card_context(session, state=state, poll_trigger="load"))
    return render(
        request,
        "sessions_app/page.html",
        {
            "current": current,
            "history": selectors.session_list(organization=organization),
            # The connect form offers them besides the default gateway.
            "gateways": gateway_selectors.gateway_list(organization=organization),
        },
    )


@require_GET
@organization_required
def session_card(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    """One polling step of a settled card: 204 while the stored session is as the card shows it
    (`v`), else the card as stored, with a toast when the status changed from the shown one (`s`)."""
    session = selectors.session_get(organization=request.organization, pk=pk)
    shown_number = request.GET.get("p", "")
    context = _card_context(
        session,
        shown_number=shown_number if shown_number.isdigit() and len(shown_number) <= 20 else None,
    )
    if request.GET.get("v") == context["version"]:
        return HttpResponse(status=204)
    response = render(request, "sessions_app/_session_card.html", context)
    client_event(response, SESSIONS_CHANGED, {"session": str(session.id)})
    shown = request.GET.get("s")
    if shown and shown != session.status:
        # Toasts only for changes: a poll that finds the status as shown says nothing.
        label = session.name or session.session_id
        if session.status == Status.DISCONNECTED:
            toast(response, _sentence(f"{label} is disconnected", session.last_error), "error")
        elif session.status == Status.CONNECTED:
            toast(response, f"{label} is connected.", "success")
        else:
            toast(response, _sentence(f"{label} is reconnecting", session.last_error), "warning")
    return response


def _sentence(head: str, reason: str) -> str:
    """ "Main is disconnected: Phone went offline." — one final stop, never "offline.." """
    text = f"{head}: {reason}" if reason else head
    return text if text.endswith((".", "!", "?", "…")) else f"{text}."


@require_GET
@organization_required
def sessions_down_banner(request: HttpRequest) -> HttpResponse:
    """The banner of every page: 204 while the same sessions are down (`v`), else the banner."""
    down = SessionsDown(request.organization)
    if request.GET.get("v") == down.version:
        return HttpResponse(status=204)
    return render(request, "sessions_app/_sessions_down_banner.html", {"sessions_down": down})


@require_GET
@organization_required
def session_history(request: HtmxHttpRequest) -> HttpResponse:
    organization = request.organization
    return render(
        request,
        "sessions_app/_session_history.html",
        {"history": selectors.session_list(organization=organization)},
    )


# --- actions ------------------------------------------------------------------------------------


@require_POST
@role_required(Role.ADMIN)
def session_create(request: HtmxHttpRequest) -> HttpResponse:
    organization = request.organization
    name = (request.POST.get("name") or "").strip()[:100]
    gateway_id = (request.POST.get("gateway") or "").strip()
    try:
        gateway = None
        if gateway_id:
            gateway = gateway_selectors.gateway_of_organization(
                organization=organization, pk=gateway_id
            )
            if gateway is None:
                raise ApplicationError("No such gateway in your organization.")
        session = services.session_create(organization=organization, name=name, gateway=gateway)
    except (GatewayError, ApplicationError) as exc:
        message = f"Could not start a new session: {exc.message}"
        if not request.htmx:
            messages.error(request, message)
            return redirect("sessions:page")
        response = render(request, "sessions_app/_connect_error.html", {"error": message})
        retarget(response, "#connect-errors")
        reswap(response, "innerHTML")
        return toast(response, message, "error")

    if not request.htmx:
        messages.success(request, "Session started: scan the QR code shown for it.")
        return redirect("sessions:page")
    session, qr, error = _first_qr(session)
    response = render(
        request,
        "sessions_app/_session_created.html",
        _card_context(session, qr=qr, error=error),
    )
    toast(response, "Session started: scan the QR code with WhatsApp on the phone.", "info")
    client_event(response, SESSION_CREATED, {"session": str(session.id)})
    return client_event(response, SESSIONS_CHANGED, {"session": str(session.id)})


@require_GET
@organization_required
def session_qr(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    """One QR polling step (every 2 s while connecting)."""
    session = selectors.session_get(organization=request.organization, pk=pk)
    try:
        poll = services.session_poll_qr(session=session)
    except GatewayError as exc:
        session.refresh_from_db()
        # Keep polling: the gateway may come back; the card says what is wrong meanwhile.
        return _render_card(request, session, state=Status.CONNECTING, error=exc.message)

    session = poll.session
    if session.status == Status.CONNECTED:
        # The database says connected (session_mark_connected ran): only now say "Connected".
        response = _render_block(request, session, state=Status.CONNECTED)
        retarget(response, f"#session-block-{session.id}")
        reswap(response, "outerHTML")
        number = f" as +{session.phone_number}" if session.phone_number else ""
        toast(response, f"Connected{number}.", "success")
        return client_event(response, SESSIONS_CHANGED, {"session": str(session.id)})
    if session.status == Status.DISCONNECTED:
        response = _render_card(request, session)
        toast(response, f"Session not connected: {session.last_error}", "error")
        return client_event(response, SESSIONS_CHANGED, {"session": str(session.id)})
    return _render_card(request, session, qr=poll.qr)


@require_POST
@organization_required
def session_verify(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    session = selectors.session_get(organization=request.organization, pk=pk)
    stored_status = session.status
    shown = _shown_fields(session)
    result = services.session_verify(session=session)
    session = result.session
    manual = request.POST.get("manual") == "1"

    if not request.htmx:
        if result.unreachable:
            messages.error(request, f"Gateway unreachable: {result.error}")
        else:
            messages.info(request, f"{session}: {session.get_status_display()}")
        return redirect("sessions:page")

    if result.unreachable:
        message = result.error.message if result.error else "Gateway unreachable."
        response = _render_card(request, session, state="unreachable", error=message)
        return toast(
            response, f"Could not verify {session.name or session.session_id}: {message}", "error"
        )

    response = _render_card(request, session, qr=None)
    changed = session.status != stored_status
    if changed or manual or _shown_fields(session) != shown:
        # A webhook may have changed the row since the page was drawn: a manual refresh
        # always lets the history table catch up.
        client_event(response, SESSIONS_CHANGED, {"session": str(session.id)})
    if session.status == Status.DISCONNECTED and (changed or manual):
        label = session.name or session.session_id
        toast(response, f"{label} is disconnected: {session.last_error}", "error")
    elif manual:
        toast(response, f"Verified: {session.get_status_display().lower()}.", "success")
    return response


@require_POST
@role_required(Role.ADMIN)
def session_reconnect(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    session = selectors.session_get(organization=request.organization, pk=pk)
    try:
        session = services.session_reconnect(session=session)
    except GatewayError as exc:
        message = f"Could not restart the session: {exc.message}"
        if not request.htmx:
            messages.error(request, message)
            return redirect("sessions:page")
        session.refresh_from_db()
        response = _render_card(request, session, error=message)
        return toast(response, message, "error")
    if not request.htmx:
        messages.success(request, "Session restarted: scan the QR code.")
        return redirect("sessions:page")
    session, qr, error = _first_qr(session)
    response = _render_card(request, session, qr=qr, error=error)
    toast(response, "Scan the QR code with WhatsApp on the phone.", "info")
    return client_event(response, SESSIONS_CHANGED, {"session": str(session.id)})


@require_POST
@role_required(Role.ADMIN)
def session_logout(request: HtmxHttpRequest, pk: uuid.UUID) -> HttpResponse:
    session = selectors.session_get(organization=request.organization, pk=pk)
    try:
        session = services.session_logout(session=session)
    except GatewayError as exc:
        message = f"Could not log out: {exc.message}"
        if not request.htmx:
            messages.error(request, message)
            return redirect("sessions:page")
        session.refresh_from_db()
        response = _render_card(request, session, state="unreachable", error=message)
        return toast(response, message, "error")
    if not request.htmx:
        messages.success(request, "Logged out.")
        return redirect("sessions:page")
    response = render(request, "sessions_app/_session_logged_out.html", {"session": session})
    retarget(response, f"#session-block-{session.id}")
    reswap(response, "outerHTML")
    toast(response, f"{session.name or session.session_id} logged out.", "success")
    return client_event(response, SESSIONS_CHANGED, {"session": str(session.id)})
