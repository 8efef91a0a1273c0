"""release_stuck_sessions, the beat task, the admin actions and the demo data."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.admin.sites import AdminSite
from django.contrib.messages.storage.fallback import FallbackStorage
from django.core.management import call_command
from django.test import RequestFactory
from django.utils import timezone

from sessions_app import demo, services
from sessions_app.admin import WhatsAppSessionAdmin
from sessions_app.models import WhatsAppSession
from sessions_app.tasks import sessions_verify_connected
from tests import factories

Status = WhatsAppSession.Status
P = "4915123456789"


def run_release(*args: str) -> str:
    out = StringIO()
    call_command("release_stuck_sessions", *args, stdout=out)
    return out.getvalue()


# --- release_stuck_sessions ------------------------------------------------------------------------


@pytest.fixture
def stuck(organization, gateway):
    """The old bug's state: the old session holds P, the new one (connected with P at the
    gateway) is stuck "connecting"; plus sessions the gateway dropped or forgot."""
    old = factories.session_create(organization=organization, phone_number=P)
    new = factories.session_create(organization=organization, status=Status.CONNECTING)
    dropped = factories.session_create(organization=organization, status=Status.CONNECTING)
    forgotten = factories.session_create(
        organization=organization, status=Status.CONNECTED, phone_number=None
    )
    waiting = factories.session_create(organization=organization, status=Status.CONNECTING)
    gateway.status(new.session_id, "connected", phone=P)
    gateway.status(dropped.session_id, "disconnected", error="QR code expired")
    gateway.status_error(forgotten.session_id, 404, {"error": "Session not found"})
    gateway.status(waiting.session_id, "connecting")
    return {"old": old, "new": new, "dropped": dropped, "forgotten": forgotten, "waiting": waiting}


def test_it_releases_a_number_held_by_an_older_session(stuck):
    output = run_release()

    rows = {k: WhatsAppSession.objects.get(pk=v.pk) for k, v in stuck.items()}
    assert rows["new"].status == Status.CONNECTED
    assert rows["new"].phone_number == P
    assert rows["old"].phone_number is None
    assert rows["dropped"].status == Status.DISCONNECTED
    assert rows["dropped"].last_error == "QR code expired"
    assert rows["forgotten"].status == Status.DISCONNECTED
    assert rows["waiting"].status == Status.CONNECTING
    assert f"release number {P} from older session {stuck['old'].session_id}" in output
    assert f"{stuck['new'].session_id}" in output
    assert "still waiting for a QR scan" in output
    assert "Done." in output


def test_it_changes_nothing_in_a_dry_run(stuck):
    before = list(WhatsAppSession.objects.order_by("pk").values())

    output = run_release("--dry-run")

    assert list(WhatsAppSession.objects.order_by("pk").values()) == before
    assert f"would release number {P} from older session" in output
    assert "would mark connected" in output
    assert "Dry run: nothing was changed." in output


def test_it_leaves_sessions_alone_when_the_gateway_is_unreachable(organization, gateway):
    session = factories.session_create(organization=organization, status=Status.CONNECTING)
    gateway.status_unreachable(session.session_id)

    output = run_release()

    session.refresh_from_db()
    assert session.status == Status.CONNECTING
    assert "gateway unreachable, left unchanged" in output


def test_it_says_when_there_is_nothing_to_do(organization, gateway):
    factories.session_create(organization=organization, phone_number=P)

    assert "Nothing to do" in run_release()
    assert gateway.calls() == []


# --- beat task -------------------------------------------------------------------------------------


def test_it_verifies_every_connected_session_in_the_beat_task(organization, gateway):
    up = factories.session_create(organization=organization, phone_number=P)
    down = factories.session_create(organization=organization)
    factories.session_create(organization=organization, status=Status.DISCONNECTED)
    gateway.status(up.session_id, "connected", phone=P)
    gateway.status(down.session_id, "disconnected", error="Phone offline")

    counts = sessions_verify_connected.apply().get()

    down.refresh_from_db()
    assert counts["checked"] == 2
    assert counts["disconnected"] == 1
    assert down.status == Status.DISCONNECTED
    assert down.last_error == "Phone offline"
    assert sessions_verify_connected.name == "sessions_app.tasks.sessions_verify_connected"


# --- admin -----------------------------------------------------------------------------------------


def admin_request(user):
    request = RequestFactory().post("/admin/sessions_app/whatsappsession/")
    request.user = user
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


def messages_of(request) -> list[str]:
    return [str(m) for m in request._messages]


def test_it_verifies_sessions_from_the_admin(organization, user, gateway):
    up = factories.session_create(organization=organization, name="Up", phone_number=P)
    down = factories.session_create(organization=organization, name="Down")
    lost = factories.session_create(organization=organization, name="Lost")
    gateway.status(up.session_id, "connected", phone=P)
    gateway.status(down.session_id, "disconnected", error="Phone offline")
    gateway.status_unreachable(lost.session_id)
    model_admin = WhatsAppSessionAdmin(WhatsAppSession, AdminSite())
    request = admin_request(user)

    model_admin.verify_against_gateway(request, WhatsAppSession.objects.all())

    texts = messages_of(request)
    assert "Up: connected, confirmed." in texts
    assert "Down: connected → disconnected (gateway: disconnected) — Phone offline" in texts
    assert any(t.startswith("Lost: gateway unreachable, nothing changed") for t in texts)


def test_it_clears_phone_numbers_from_the_admin(organization, user):
    session = factories.session_create(organization=organization, phone_number=P)
    factories.session_create(organization=organization)
    model_admin = WhatsAppSessionAdmin(WhatsAppSession, AdminSite())
    request = admin_request(user)

    model_admin.clear_phone_number(request, WhatsAppSession.objects.all())

    session.refresh_from_db()
    assert session.phone_number is None
    assert messages_of(request) == ["Cleared the phone number of 1 session(s)."]


def test_it_shows_the_admin_changelist(admin_client, organization):
    factories.session_create(organization=organization, phone_number=P, last_error="boom")

    response = admin_client.get(
        "/admin/sessions_app/whatsappsession/", {"q": "49151", "status__exact": "connected"}
    )

    assert response.status_code == 200
    assert "boom" in response.content.decode()


# --- demo data -------------------------------------------------------------------------------------


def test_it_seeds_demo_sessions_without_a_gateway_and_idempotently(organization, gateway):
    gateway.status_unreachable(demo.MAIN_SESSION_ID)
    out = StringIO()

    demo.seed(organization=organization, stdout=out)
    demo.seed(organization=organization, stdout=out)

    main = WhatsAppSession.objects.get(session_id="wa_demo_main")
    old = WhatsAppSession.objects.get(session_id="wa_old_demo")
    assert WhatsAppSession.objects.count() == 2
    assert main.status == Status.CONNECTED
    assert main.name == "Main number"
    assert main.phone_number is None
    assert old.status == Status.DISCONNECTED
    assert old.phone_number is None
    assert old.last_error == "Logged out on the phone"
    assert timezone.now() - old.last_error_at > timedelta(days=2)
    assert old.created_at < main.created_at  # the history lists it below the main number


def test_it_stores_the_demo_number_when_the_gateway_answers(organization, gateway):
    gateway.status(demo.MAIN_SESSION_ID, "connected", phone="4915199999999")

    demo.seed(organization=organization, stdout=StringIO())

    assert WhatsAppSession.objects.get(session_id="wa_demo_main").phone_number == "4915199999999"


def test_the_demo_sessions_verify_as_seeded_against_the_simulator(organization, gateway_simulator):
    """The seeded "Old number" is logged out: the simulator must not report it connected."""
    demo.seed(organization=organization, stdout=StringIO())

    main = services.session_verify(session=WhatsAppSession.objects.get(name="Main number"))
    old = services.session_verify(session=WhatsAppSession.objects.get(name="Old number"))

    assert main.session.status == Status.CONNECTED
    assert main.session.phone_number
    assert old.session.status == Status.DISCONNECTED
    assert old.session.phone_number is None
    assert not WhatsAppSession.objects.filter(status=Status.CONNECTED, name="Old number").exists()


def test_the_demo_seed_renames_the_old_numbers_former_id(organization, gateway):
    """A database seeded before keeps one "Old number", under the id the simulator does not know."""
    gateway.status_unreachable(demo.MAIN_SESSION_ID)
    factories.session_create(
        organization=organization,
        session_id="wa_demo_old",
        name="Old number",
        status=Status.DISCONNECTED,
    )

    demo.seed(organization=organization, stdout=StringIO())

    old = WhatsAppSession.objects.get(name="Old number")
    assert old.session_id == demo.OLD_SESSION_ID == "wa_old_demo"
