"""Two gateways of different kinds in one organization (and the default gateway): every session
talks to its own gateway, with that gateway's key — connect, verify, sync groups, send."""

from __future__ import annotations

import json

import pytest
import requests
import responses
from django.conf import settings

from campaigns_app import queue
from campaigns_app.models import QueueSessionState, ScheduledWhatsAppMessage
from gateways_app.clients import gateway_client, gateway_for
from groups_app.services import group_sync
from sessions_app import services as session_services
from tests.campaigns_app.conftest import message_create
from tests.gateways_app.conftest import EVOLUTION_KEY, EVOLUTION_URL, WAHA_KEY, WAHA_URL
from tests.helpers import load_payload
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.gateway import VpsGateway
from whatsapp_crm.gateway_evolution import EvolutionGateway
from whatsapp_crm.gateway_waha import WahaGateway

pytestmark = pytest.mark.django_db

WAHA_PHONE, EVOLUTION_PHONE = "4915100000001", "4915100000002"
GROUP = "120363111111111111@g.us"


@pytest.fixture(autouse=True)
def fast_queue(settings):
    settings.QUEUE_SESSION_RATE_PER_MINUTE = 0
    settings.QUEUE_LEASE_SECONDS = 120
    settings.GATEWAY_TIMEOUT_SECONDS = 3


def keyed(header: str, key: str):
    """Matches a request carrying `key` under `header` and under no other key header."""

    def match(request):
        others = {"x-api-key", "apikey"} - {header.lower()}
        ok = request.headers.get(header) == key and not any(h in request.headers for h in others)
        return ok, "" if ok else f"headers were {dict(request.headers)}"

    return match


def waha_answers(mocked, name: str) -> None:
    """WAHA's answers for session `name` (creating it is answered by the test)."""
    key = [keyed("X-Api-Key", WAHA_KEY)]
    working = load_payload("../waha/session_working")
    working["name"] = name
    working["me"]["id"] = f"{WAHA_PHONE}@c.us"
    mocked.get(f"{WAHA_URL}/api/sessions/{name}", json=working, match=key)
    mocked.get(f"{WAHA_URL}/api/{name}/groups", json=load_payload("../waha/groups_gows"), match=key)
    mocked.post(
        f"{WAHA_URL}/api/sendText",
        status=201,
        json=load_payload("../waha/send_text_noweb"),
        match=key,
    )


def evolution_answers(mocked, name: str) -> None:
    """Evolution's answers for instance `name` (creating it is answered by the test)."""
    key = [keyed("apikey", EVOLUTION_KEY)]
    mocked.get(
        f"{EVOLUTION_URL}/instance/connectionState/{name}",
        json=load_payload("../evolution/connection_state_open"),
        match=key,
    )
    instances = load_payload("../evolution/fetch_instances")
    instances[0].update(name=name, ownerJid=f"{EVOLUTION_PHONE}@s.whatsapp.net")
    mocked.get(f"{EVOLUTION_URL}/instance/fetchInstances", json=instances, match=key)
    mocked.get(
        f"{EVOLUTION_URL}/group/fetchAllGroups/{name}",
        json=load_payload("../evolution/groups"),
        match=key,
    )
    mocked.post(
        f"{EVOLUTION_URL}/message/sendText/{name}",
        status=201,
        json=load_payload("../evolution/send_text"),
        match=key,
    )


def test_gateway_for_builds_each_sessions_own_client(
    organization, waha_gateway, evolution_gateway, gateway_session
):
    waha_gateway.waha_single_session = True
    waha_gateway.save()
    on_waha = gateway_session.__class__.objects.create(
        organization=organization, gateway=waha_gateway, session_id="wa_on_waha"
    )
    on_evolution = gateway_session.__class__.objects.create(
        organization=organization, gateway=evolution_gateway, session_id="wa_on_evolution"
    )

    waha, evolution, default = (
        gateway_for(on_waha),
        gateway_for(on_evolution),
        gateway_for(gateway_session),
    )

    assert isinstance(waha, WahaGateway)
    assert (waha.base_url, waha.api_key, waha.session_name("x")) == (WAHA_URL, WAHA_KEY, "default")
    assert isinstance(evolution, EvolutionGateway)
    assert (evolution.base_url, evolution.api_key) == (EVOLUTION_URL, EVOLUTION_KEY)
    assert isinstance(default, VpsGateway) and type(default) is VpsGateway
    assert (default.base_url, default.api_key) == (settings.GATEWAY_URL, settings.GATEWAY_API_KEY)


def test_two_gateways_of_one_organization_each_serve_their_own_sessions(
    organization, waha_gateway, evolution_gateway, mocked_gateway
):
    # Session ids are made by the CRM: learn them from the create calls.
    def created(request):
        body = json.loads(request.body)
        name = body.get("name") or body.get("instanceName")
        if "name" in body:
            waha_answers(mocked_gateway, name)
        else:
            evolution_answers(mocked_gateway, name)
        return 201, {}, json.dumps({"name": name, "status": "STARTING"})

    mocked_gateway.add_callback(responses.POST, f"{WAHA_URL}/api/sessions", callback=created)
    mocked_gateway.add_callback(
        responses.POST, f"{EVOLUTION_URL}/instance/create", callback=created
    )

    on_waha = session_services.session_create(
        organization=organization, name="Berlin", gateway=waha_gateway
    )
    on_evolution = session_services.session_create(
        organization=organization, name="Hamburg", gateway=evolution_gateway
    )
    assert (on_waha.gateway, on_evolution.gateway) == (waha_gateway, evolution_gateway)

    # Verify: each answer comes from its own server, with its own number.
    assert session_services.session_verify(session=on_waha).session.phone_number == WAHA_PHONE
    assert (
        session_services.session_verify(session=on_evolution).session.phone_number
        == EVOLUTION_PHONE
    )

    # Group sync: WAHA's GOWS list and Evolution's list, parents skipped by both.
    waha_sync = group_sync(session=on_waha)
    evolution_sync = group_sync(session=on_evolution)
    assert (waha_sync.vps_count, evolution_sync.vps_count) == (3, 4)
    assert waha_sync.skipped_community_parents == evolution_sync.skipped_community_parents == 1

    # Sends through the queue: each row to its session's gateway, in one batch.
    rows = [
        message_create(session=on_waha, recipient_jid=GROUP),
        message_create(session=on_evolution, recipient_jid=GROUP),
    ]
    queue.queue_process_once()

    sent = {
        str(row.session_id): row.message_id
        for row in ScheduledWhatsAppMessage.objects.filter(id__in=[r.id for r in rows])
    }
    assert sent == {str(on_waha.id): "BAE5F2D1C8A94B1E", str(on_evolution.id): "BAE594145F4C59B4"}
    calls = [c.request.url for c in mocked_gateway.calls]
    assert sum("/api/sendText" in url for url in calls) == 1
    assert sum("/message/sendText/" in url for url in calls) == 1
    assert not any(url.startswith(settings.GATEWAY_URL) for url in calls)


def test_an_unreachable_gateway_pauses_only_its_own_sessions(
    organization, waha_gateway, evolution_gateway, mocked_gateway
):
    on_waha = gateway_session_on(organization, waha_gateway, "wa_berlin")
    on_evolution = gateway_session_on(organization, evolution_gateway, "wa_hamburg")
    mocked_gateway.post(
        f"{WAHA_URL}/api/sendText",
        body=requests.exceptions.ConnectionError("[Errno 111] Connection refused"),
    )
    evolution_answers(mocked_gateway, "wa_hamburg")
    waha_rows = [message_create(session=on_waha, recipient_jid=GROUP) for _ in range(2)]
    evolution_rows = [message_create(session=on_evolution, recipient_jid=GROUP) for _ in range(2)]

    queue.queue_process_once()

    statuses = {
        r.id: r.status
        for r in ScheduledWhatsAppMessage.objects.filter(id__in=[r.id for r in waha_rows])
    }
    assert set(statuses.values()) == {"pending"}
    assert {
        r.status
        for r in ScheduledWhatsAppMessage.objects.filter(id__in=[r.id for r in evolution_rows])
    } == {"sent"}
    waha_state = QueueSessionState.objects.get(session=on_waha)
    assert waha_state.unreachable_since is not None
    evolution_state = QueueSessionState.objects.filter(session=on_evolution).first()
    assert evolution_state is None or evolution_state.unreachable_since is None


def gateway_session_on(organization, gateway, session_id):
    from sessions_app.models import WhatsAppSession

    return WhatsAppSession.objects.create(
        organization=organization, gateway=gateway, session_id=session_id, status="connected"
    )


def test_another_organizations_gateway_is_refused_for_a_new_session(
    organization, other_gateway, mocked_gateway
):
    with pytest.raises(ApplicationError, match="No such gateway"):
        session_services.session_create(organization=organization, gateway=other_gateway)
    assert len(mocked_gateway.calls) == 0  # nothing was asked of any gateway


def test_the_default_gateway_client_follows_the_environment(settings):
    settings.GATEWAY_BACKEND = "evolution"
    settings.GATEWAY_URL = "http://default-evolution.test"
    client = gateway_client(None)
    assert isinstance(client, EvolutionGateway)
    assert client.base_url == "http://default-evolution.test"
