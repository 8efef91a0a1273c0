""" "Check connection": each kind's adapter asks one cheap question and the service says what is
wrong — unreachable, wrong key, wrong kind (answers from tests/fixtures and the gateways' own
error shapes)."""

from __future__ import annotations

import pytest
import requests

from gateways_app import services
from tests.gateways_app.conftest import EVOLUTION_URL, WAHA_URL, gateway_add
from tests.helpers import load_payload

pytestmark = pytest.mark.django_db

VPS_URL = "http://vps.test"
REFUSED = requests.exceptions.ConnectionError("[Errno 111] Connection refused")
# NestJS's answer for a route it does not have (WAHA), and Evolution's error handler's.
NEST_404 = {
    "message": "Cannot GET /sessions/crm-connection-check/status",
    "error": "Not Found",
    "statusCode": 404,
}
EVOLUTION_404 = {
    "status": 404,
    "error": "Not Found",
    "response": {"message": ["Cannot GET /api/sessions"]},
}


@pytest.fixture
def vps_gateway(organization):
    return gateway_add(organization, name="Own VPS", kind="vps", base_url=VPS_URL, api_key="vk")


def check(gateway):
    return services.gateway_check(gateway=gateway)


# --- vps -------------------------------------------------------------------------------------------
def test_vps_ok_when_it_answers_our_404_for_an_unknown_session(mocked_gateway, vps_gateway):
    mocked_gateway.get(
        f"{VPS_URL}/sessions/crm-connection-check/status",
        status=404,
        json={"error": "Session crm-connection-check not found"},
    )
    result = check(vps_gateway)
    assert (result.ok, result.problem) == (True, "ok")
    assert mocked_gateway.calls[0].request.headers["X-API-Key"] == "vk"


def test_vps_wrong_key(mocked_gateway, vps_gateway):
    mocked_gateway.get(
        f"{VPS_URL}/sessions/crm-connection-check/status",
        status=401,
        json={"error": "invalid API key"},
    )
    result = check(vps_gateway)
    assert (result.ok, result.problem) == (False, "wrong_key")
    assert "refused the API key (401)" in result.message


def test_vps_that_is_really_waha_is_the_wrong_kind(mocked_gateway, vps_gateway):
    mocked_gateway.get(f"{VPS_URL}/sessions/crm-connection-check/status", status=404, json=NEST_404)
    result = check(vps_gateway)
    assert (result.ok, result.problem) == (False, "wrong_kind")
    assert result.message == (
        "Own VPS: http://vps.test answered, but not like our gateway protocol (vps) (Not Found). "
        "Is it another kind of gateway, or is the base URL wrong?"
    )


def test_vps_unreachable(mocked_gateway, vps_gateway):
    mocked_gateway.get(f"{VPS_URL}/sessions/crm-connection-check/status", body=REFUSED)
    result = check(vps_gateway)
    assert (result.ok, result.problem) == (False, "unreachable")
    assert "refused" in result.message


# --- WAHA --------------------------------------------------------------------------------------------
def test_waha_ok(mocked_gateway, waha_gateway):
    mocked_gateway.get(f"{WAHA_URL}/api/sessions", json=[load_payload("../waha/session_working")])
    assert check(waha_gateway).ok is True


def test_waha_wrong_key(mocked_gateway, waha_gateway):
    mocked_gateway.get(
        f"{WAHA_URL}/api/sessions", status=401, json=load_payload("../waha/unauthorized")
    )
    assert check(waha_gateway).problem == "wrong_key"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, EVOLUTION_404),
        (404, "<html>Not found</html>"),
        (200, {"status": 200, "message": "Welcome"}),
    ],
    ids=["evolution-404", "html-404", "not-a-list"],
)
def test_waha_wrong_kind(mocked_gateway, waha_gateway, status, body):
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    mocked_gateway.get(f"{WAHA_URL}/api/sessions", status=status, **kwargs)
    result = check(waha_gateway)
    assert (result.ok, result.problem) == (False, "wrong_kind")
    assert "answered, but not like WAHA" in result.message


def test_waha_unreachable(mocked_gateway, waha_gateway):
    mocked_gateway.get(f"{WAHA_URL}/api/sessions", body=REFUSED)
    assert check(waha_gateway).problem == "unreachable"


# --- Evolution API ---------------------------------------------------------------------------------
def test_evolution_ok(mocked_gateway, evolution_gateway):
    mocked_gateway.get(
        f"{EVOLUTION_URL}/instance/fetchInstances",
        json=load_payload("../evolution/fetch_instances"),
    )
    result = check(evolution_gateway)
    assert result.ok is True
    assert mocked_gateway.calls[0].request.headers["apikey"]


def test_evolution_wrong_key(mocked_gateway, evolution_gateway):
    mocked_gateway.get(
        f"{EVOLUTION_URL}/instance/fetchInstances",
        status=401,
        json=load_payload("../evolution/unauthorized"),
    )
    assert check(evolution_gateway).problem == "wrong_key"


def test_evolution_that_is_really_waha_is_the_wrong_kind(mocked_gateway, evolution_gateway):
    mocked_gateway.get(f"{EVOLUTION_URL}/instance/fetchInstances", status=404, json=NEST_404)
    result = check(evolution_gateway)
    assert result.problem == "wrong_kind"
    assert "not like Evolution API" in result.message


def test_the_default_gateway_can_be_checked(mocked_gateway, settings):
    mocked_gateway.get(
        f"{settings.GATEWAY_URL}/sessions/crm-connection-check/status",
        status=404,
        json={"error": "not found"},
    )
    assert services.gateway_check(gateway=None).ok is True
