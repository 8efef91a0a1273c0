"""No input answers 5xx (INTERFACE.md §6): JSON nested 50,000 deep, NUL characters, over-long text
and bodies on every endpoint that takes one, and malformed ids in every URL that carries one.

The endpoints come from the URL resolver, so a new one fails `test_every_write_endpoint_is_listed`
until it is added to ENDPOINTS below.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from gateways_app.models import WhatsAppGateway
from gateways_app.services import gateway_create
from groups_app.models import WhatsAppGroup
from tests import factories
from tests.helpers import load_payload
from whatsapp_crm.models import WebhookEvent
from whatsapp_crm.webhooks import webhook_signature

# Values filled in from the `world` fixture (the organization's rows).
SESSION, SESSION_GATEWAY_ID, GROUP = "<session>", "<session_id>", "<group>"
CAMPAIGN, ARTIST = "<campaign>", "<artist>"
# The organization's WAHA and Evolution gateway rows, and a session on each (their session ids).
GATEWAY, EVOLUTION_GATEWAY = "<gateway>", "<evolution_gateway>"
WAHA_SESSION_ID, EVOLUTION_SESSION_ID = "<waha_session_id>", "<evolution_session_id>"
# The row whose id fills `<uuid:pk>` in "api/<kind>/<uuid:pk>/…".
ROW_OF_KIND = {"sessions": SESSION, "campaigns": CAMPAIGN, "artists": ARTIST, "gateways": GATEWAY}
# The gateway row whose id fills `<uuid:gateway_id>` in "api/webhooks/<kind>/<uuid:gateway_id>/".
GATEWAY_OF_KIND = {"waha": GATEWAY, "evolution": EVOLUTION_GATEWAY}
WAHA_GATEWAY_URL, EVOLUTION_GATEWAY_URL = "http://waha-world.test", "http://evolution-world.test"
WRITE_METHODS = ("post", "put", "patch")


@dataclass(frozen=True)
class Endpoint:
    route: str  # as the resolver spells it
    body: dict[str, Any] | None = None  # a valid body; None: the endpoint reads no body
    method: str = "post"
    webhook: bool = False
    # Fields whose over-long text is kept (cut), not refused: no 4xx expected for them.
    cuts: tuple[str, ...] = field(default=())
    # The default gateway's kind this webhook receiver needs (GATEWAY_BACKEND), if any.
    backend: str = ""


ENDPOINTS = [
    Endpoint("api/sessions/", {"name": "Tour phone", "gateway": GATEWAY}),
    Endpoint("api/sessions/<uuid:pk>/verify/"),
    Endpoint("api/sessions/<uuid:pk>/sync-groups/"),
    Endpoint(
        "api/scheduled-messages/",
        {"session": SESSION, "recipient_jid": "120363000000000001@g.us", "message": "Hello"},
    ),
    Endpoint(
        "api/campaigns/",
        {"session": SESSION, "name": "Tour", "message": "Hello", "group_ids": [GROUP]},
    ),
    Endpoint("api/campaigns/<uuid:pk>/retry-failed/"),
    Endpoint("api/campaigns/<uuid:pk>/cancel/"),
    Endpoint("api/artists/", {"name": "Band", "whatsapp_group_id": "120363000000000101"}),
    Endpoint(
        "api/artists/<uuid:pk>/",
        {"name": "Band 2", "whatsapp_group_id": "120363000000000102"},
        method="patch",
    ),
    Endpoint("api/lookup-whatsapp-groups/", {"phone": "+49 151 23456789"}),
    Endpoint("api/sync-whatsapp-group-members/", {"artist_id": ARTIST}),
    Endpoint(
        "api/webhooks/whatsapp/status/",
        {
            "event": "session_status",
            "sessionId": SESSION_GATEWAY_ID,
            "status": "disconnected",
            "phoneNumber": "4915123456789",
            "error": "Logged out on the phone",
        },
        webhook=True,
        cuts=("error",),  # a disconnect must not be lost for a long reason: stored cut
    ),
    Endpoint(
        "api/webhooks/whatsapp/message-error/",
        {
            "event": "message_error",
            "sessionId": SESSION_GATEWAY_ID,
            "messageId": "3EB0C767D26A1D6E5A9C",
            "errorCode": "420",
            "errorMessage": "Not a group member",
            "groupJid": "120363000000000001@g.us",
            "id": "evt-1",
        },
        webhook=True,
    ),
    Endpoint(
        "api/webhooks/whatsapp/message-ack/",
        {
            "event": "message_ack",
            "sessionId": SESSION_GATEWAY_ID,
            "messageId": "3EB0C767D26A1D6E5A9C",
            "ack": "read",
            "participant": "4915123456789@s.whatsapp.net",
            "id": "evt-ack-1",
        },
        webhook=True,
    ),
    Endpoint(
        "api/webhooks/whatsapp/group-participants/",
        {
            "event": "group_participants",
            "sessionId": SESSION_GATEWAY_ID,
            "groupJid": "120363000000000101@g.us",
            "action": "add",
            "participants": ["4915123456789", "123456789012345@lid"],
            "id": "evt-gp-1",
        },
        webhook=True,
    ),
]

WAHA_EVENT = {
    "id": "evt_01kbq3m7d2x9v4c6t8r0n5p1wz",
    "timestamp": 1764612000123,
    "event": "session.status",
    "payload": {"name": "x", "status": "WORKING", "statuses": []},
}
EVOLUTION_EVENT = {
    "event": "connection.update",
    "data": {"state": "open", "statusReason": 200, "wuid": "4915123456789@s.whatsapp.net"},
    "date_time": "2026-12-01T18:40:00.123Z",
}
ENDPOINTS += [
    Endpoint(
        "api/gateways/",
        {"name": "Munich", "kind": "waha", "base_url": "http://waha-munich.test", "api_key": "k1"},
    ),
    Endpoint("api/gateways/<uuid:pk>/check/"),
    Endpoint(
        "api/webhooks/waha/",
        {**WAHA_EVENT, "session": SESSION_GATEWAY_ID},
        webhook=True,
        backend="waha",
    ),
    Endpoint(
        "api/webhooks/waha/<uuid:gateway_id>/",
        {**WAHA_EVENT, "session": WAHA_SESSION_ID},
        webhook=True,
    ),
    Endpoint(
        "api/webhooks/evolution/",
        {**EVOLUTION_EVENT, "instance": SESSION_GATEWAY_ID},
        webhook=True,
        backend="evolution",
    ),
    Endpoint(
        "api/webhooks/evolution/<uuid:gateway_id>/",
        {**EVOLUTION_EVENT, "instance": EVOLUTION_SESSION_ID},
        webhook=True,
    ),
]

DEEP = "[" * 50_000
TOO_LARGE = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1  # bytes
LONG_TEXT = "x" * 100_000  # longer than any column


def _variants() -> list[Any]:
    """(endpoint, variant) for every bad input worth sending to each endpoint."""
    cases = []
    for endpoint in ENDPOINTS:
        cases.append(pytest.param(endpoint, "deep", id=f"{endpoint.route}-deep"))
        if endpoint.body is None:
            continue  # never parsed: NUL or long text cannot reach anything
        for variant in ("raw-nul", "too-large"):
            cases.append(pytest.param(endpoint, variant, id=f"{endpoint.route}-{variant}"))
        for name in endpoint.body:
            for kind in ("nul", "long", "nested"):
                if kind == "long" and name in endpoint.cuts:
                    continue
                variant = f"{kind}:{name}"
                cases.append(pytest.param(endpoint, variant, id=f"{endpoint.route}-{variant}"))
    return cases


def _routes(patterns: list | None = None, prefix: str = "") -> list[tuple[str, Any]]:
    routes = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            routes += _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            routes.append((prefix + str(pattern.pattern), pattern.callback))
    return routes


def _write_routes() -> set[str]:
    """JSON API routes (with their slash) whose view takes a POST, PUT or PATCH."""
    found = set()
    for route, callback in _routes():
        view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
        writes = any(hasattr(view_class, method) for method in WRITE_METHODS)
        if route.startswith("api/") and route.endswith("/") and writes:
            found.add(route)
    return found


@dataclass
class World:
    ids: dict[str, str]

    def fill(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.fill(v) for v in value]
        return self.ids.get(value, value) if isinstance(value, str) else value

    def url(self, route: str) -> str:
        if "<uuid:gateway_id>" in route:
            kind = route.split("/")[2]
            return "/" + route.replace("<uuid:gateway_id>", self.ids[GATEWAY_OF_KIND[kind]])
        if "<uuid:pk>" not in route:
            return "/" + route
        kind = route.split("/")[1]
        return "/" + route.replace("<uuid:pk>", self.ids[ROW_OF_KIND[kind]])

    def body(self, endpoint: Endpoint) -> dict[str, Any]:
        return {name: self.fill(value) for name, value in (endpoint.body or {}).items()}

    def headers(self, endpoint: Endpoint, raw: bytes) -> dict[str, str]:
        """A gateway row's receiver: its webhook secret as key, WAHA's signature of `raw`."""
        if "<uuid:gateway_id>" not in endpoint.route:
            return {}
        kind = endpoint.route.split("/")[2]
        secret = WhatsAppGateway.objects.get(pk=self.ids[GATEWAY_OF_KIND[kind]]).webhook_secret
        headers = {"HTTP_X_API_KEY": secret}
        if kind == "waha":
            headers["HTTP_X_WEBHOOK_HMAC"] = webhook_signature(secret, raw)
        return headers


@pytest.fixture
def world(organization, api_client, mocked_gateway) -> World:
    session = factories.session_create(organization=organization)
    waha = gateway_create(
        organization=organization,
        name="WAHA",
        kind="waha",
        base_url=WAHA_GATEWAY_URL,
        api_key="waha-key",
    )
    evolution = gateway_create(
        organization=organization,
        name="Evolution",
        kind="evolution",
        base_url=EVOLUTION_GATEWAY_URL,
        api_key="evolution-key",
    )
    on_waha = factories.session_create(organization=organization, gateway=waha)
    on_evolution = factories.session_create(organization=organization, gateway=evolution)
    mocked_gateway.get(f"{WAHA_GATEWAY_URL}/api/sessions", json=[])
    mocked_gateway.post(
        f"{WAHA_GATEWAY_URL}/api/sessions", status=201, json={"name": "x", "status": "STARTING"}
    )
    group = WhatsAppGroup.objects.create(
        organization=organization,
        session=session,
        group_jid="120363000000000001@g.us",
        group_name="Tour",
    )
    campaign = api_client.post(
        "/api/campaigns/",
        {"session": str(session.pk), "name": "Tour", "message": "Hi", "group_ids": [str(group.pk)]},
        format="json",
    )
    artist = api_client.post(
        "/api/artists/", {"name": "Band", "whatsapp_group_id": "120363000000000100"}, format="json"
    )
    assert (campaign.status_code, artist.status_code) == (201, 201)
    # What the endpoints that read no body ask the gateway.
    gateway = settings.GATEWAY_URL
    mocked_gateway.get(
        f"{gateway}/sessions/{session.session_id}/status",
        json={"sessionId": session.session_id, "status": "connected", "phoneNumber": None},
    )
    mocked_gateway.get(
        f"{gateway}/sessions/{session.session_id}/groups", json=load_payload("groups")
    )
    mocked_gateway.post(f"{gateway}/sessions", json={"status": "connecting"}, status=201)
    return World(
        ids={
            SESSION: str(session.pk),
            SESSION_GATEWAY_ID: session.session_id,
            GROUP: str(group.pk),
            CAMPAIGN: campaign.json()["id"],
            ARTIST: artist.json()["id"],
            GATEWAY: str(waha.pk),
            EVOLUTION_GATEWAY: str(evolution.pk),
            WAHA_SESSION_ID: on_waha.session_id,
            EVOLUTION_SESSION_ID: on_evolution.session_id,
        }
    )


def _bad_body(world: World, endpoint: Endpoint, variant: str) -> bytes:
    if variant == "deep":
        return DEEP.encode()
    body = world.body(endpoint)
    if variant == "raw-nul":  # a NUL byte outside any string: not JSON
        return ("{\x00" + json.dumps(body)[1:]).encode()
    if variant == "too-large":  # more than Django reads into memory (webhooks read it whole)
        body[next(iter(body))] = "x" * TOO_LARGE
        return json.dumps(body).encode()
    kind, name = variant.split(":")
    body[name] = {"nul": "a\x00b", "long": LONG_TEXT, "nested": json.loads("[" * 600 + "]" * 600)}[
        kind
    ]
    return json.dumps(body).encode()


def _client(endpoint: Endpoint, api_client: APIClient, webhook_client: APIClient) -> APIClient:
    if "<uuid:gateway_id>" in endpoint.route:
        return APIClient()  # the gateway row's own key: World.headers
    return webhook_client if endpoint.webhook else api_client


def _database() -> dict[str, list[dict[str, Any]]]:
    """Every row of the project's tables but the webhook inbox (which records refusals)."""
    tables = {}
    for model in apps.get_models():
        package = model.__module__.split(".")[0]
        ours = package.endswith("_app") or package == "whatsapp_crm"
        if ours and model is not WebhookEvent:
            tables[model._meta.db_table] = list(model.objects.order_by("pk").values())
    return tables


def test_every_write_endpoint_is_listed():
    assert _write_routes() == {endpoint.route for endpoint in ENDPOINTS}


@pytest.mark.parametrize(("endpoint", "variant"), _variants())
def test_no_bad_body_answers_5xx_or_changes_anything(
    world, api_client, webhook_client, endpoint, variant, settings
):
    if endpoint.backend:
        settings.GATEWAY_BACKEND = endpoint.backend
    before = _database()
    client = _client(endpoint, api_client, webhook_client)
    raw = _bad_body(world, endpoint, variant)

    response = client.generic(
        endpoint.method.upper(),
        world.url(endpoint.route),
        raw,
        content_type="application/json",
        **world.headers(endpoint, raw),
    )

    if endpoint.body is None:
        # The body is never parsed; the endpoint does its work as with an empty one.
        assert response.status_code == 200, response.content[:300]
        return
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/json"
    assert response.json()["success"] is False
    assert _database() == before


@pytest.mark.parametrize(
    "endpoint", [pytest.param(e, id=e.route) for e in ENDPOINTS if e.body is not None]
)
def test_the_valid_bodies_are_accepted(world, api_client, webhook_client, endpoint, settings):
    """The bad bodies above differ from these in one thing only: so that one thing is refused."""
    if endpoint.backend:
        settings.GATEWAY_BACKEND = endpoint.backend
    client = _client(endpoint, api_client, webhook_client)
    raw = json.dumps(world.body(endpoint)).encode()

    response = client.generic(
        endpoint.method.upper(),
        world.url(endpoint.route),
        raw,
        content_type="application/json",
        **world.headers(endpoint, raw),
    )

    assert 200 <= response.status_code < 300, response.content[:300]


# --- malformed ids in URLs ----------------------------------------------------------------------

MALFORMED_IDS = ["not-a-uuid", "0" * 36, "0" * 32, "1; DROP TABLE x", "%00"]
# Other converters in the same routes get a value that matches them.
_CONVERTERS = re.compile(r"<(\w+):(\w+)>")
_GOOD_VALUES = {"int": "1", "slug": "cancel", "str": "x", "path": "x"}


def _id_routes() -> list[str]:
    return sorted({route for route, _ in _routes() if "<uuid:" in route})


def _with_ids(route: str, bad_id: str) -> str:
    return "/" + _CONVERTERS.sub(
        lambda m: bad_id if m.group(1) == "uuid" else _GOOD_VALUES[m.group(1)], route
    )


@pytest.mark.parametrize("route", _id_routes())
@pytest.mark.parametrize("bad_id", MALFORMED_IDS)
def test_a_malformed_id_in_any_url_answers_404(logged_in_client, route, bad_id):
    response = logged_in_client.get(_with_ids(route, bad_id))

    assert response.status_code == 404
    if route.startswith("api/"):
        assert response.json() == {"success": False, "error": "Not found.", "details": {}}


def test_the_id_routes_cover_the_api_and_the_pages():
    routes = _id_routes()
    assert "api/sessions/<uuid:pk>/verify/" in routes
    assert "settings/whatsapp/sessions/<uuid:pk>/qr/" in routes
    assert len(routes) >= 10
