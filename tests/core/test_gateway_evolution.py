"""The Evolution API adapter against recorded answers (tests/fixtures/evolution/, see its README)."""

from __future__ import annotations

import pytest
import requests
import responses

from tests.helpers import load_payload
from whatsapp_crm.gateway import GatewayError, get_gateway
from whatsapp_crm.gateway_evolution import EvolutionGateway

BASE = "http://evolution.test"


def evolution(name: str):
    return load_payload(f"../evolution/{name}")


@pytest.fixture
def gw() -> EvolutionGateway:
    return EvolutionGateway(base_url=BASE, api_key="k-123", timeout=2.0)


def send(gw: EvolutionGateway) -> str:
    return gw.send_message(
        session_id="wa_1",
        to="120363111111111111@g.us",
        message="Soundcheck at 5",
        client_message_id="c1",
    )


def only_the_apikey_header(request):
    """Evolution reads `apikey`; the key is sent under no other header."""
    ok = request.headers.get("apikey") == "k-123" and "X-API-Key" not in request.headers
    return ok, "" if ok else f"headers were {dict(request.headers)}"


def test_gateway_backend_evolution_picks_this_adapter(settings):
    settings.GATEWAY_BACKEND = "evolution"
    assert isinstance(get_gateway(), EvolutionGateway)


# --- instances -------------------------------------------------------------------------------------
def test_it_creates_a_baileys_instance_with_the_apikey_header(mocked_gateway, gw):
    mocked_gateway.post(
        f"{BASE}/instance/create",
        status=201,
        json=evolution("instance_created"),
        match=[
            responses.matchers.json_params_matcher(
                {"instanceName": "wa_1", "integration": "WHATSAPP-BAILEYS", "qrcode": True}
            ),
            only_the_apikey_header,
        ],
    )
    status = gw.create_session("wa_1")
    assert (status.session_id, status.status, status.phone_number) == ("wa_1", "connecting", None)


def test_it_reconnects_an_instance_evolution_already_has(mocked_gateway, gw):
    mocked_gateway.post(f"{BASE}/instance/create", status=403, json=evolution("instance_in_use"))
    connect = mocked_gateway.get(f"{BASE}/instance/connect/wa_1", json=evolution("connect_qr"))
    assert gw.create_session("wa_1").status == "connecting"
    assert connect.call_count == 1


def test_reconnecting_a_connected_instance_reports_it_connected(mocked_gateway, gw):
    mocked_gateway.post(f"{BASE}/instance/create", status=403, json=evolution("instance_in_use"))
    mocked_gateway.get(f"{BASE}/instance/connect/wa_1", json=evolution("connect_open"))
    assert gw.create_session("wa_1").status == "connected"


@pytest.mark.parametrize(
    ("fixture", "status", "error"),
    [
        ("connection_state_connecting", "connecting", None),
        ("connection_state_close", "disconnected", "close"),
        ("connection_state_unloaded", "disconnected", "no connection"),
    ],
)
def test_it_maps_connection_states(mocked_gateway, gw, fixture, status, error):
    mocked_gateway.get(f"{BASE}/instance/connectionState/wa_1", json=evolution(fixture))
    result = gw.get_status("wa_1")
    assert (result.status, result.phone_number) == (status, None)
    if error is None:
        assert result.error is None
    else:
        assert error in result.error


def test_a_refused_instance_is_disconnected(mocked_gateway, gw):
    mocked_gateway.get(
        f"{BASE}/instance/connectionState/wa_1",
        json={"instance": {"instanceName": "wa_1", "state": "refused"}},
    )
    result = gw.get_status("wa_1")
    assert result.status == "disconnected"
    assert "refused" in result.error


@pytest.mark.parametrize("fixture", ["fetch_instances", "fetch_instances_documented"])
def test_it_reads_the_phone_number_of_an_open_instance(mocked_gateway, gw, fixture):
    mocked_gateway.get(
        f"{BASE}/instance/connectionState/wa_1", json=evolution("connection_state_open")
    )
    mocked_gateway.get(
        f"{BASE}/instance/fetchInstances",
        json=evolution(fixture),
        match=[responses.matchers.query_param_matcher({"instanceName": "wa_1"})],
    )
    result = gw.get_status("wa_1")
    assert (result.status, result.phone_number, result.error) == (
        "connected",
        "4915112345678",
        None,
    )


def test_it_rejects_an_unknown_connection_state(mocked_gateway, gw):
    mocked_gateway.get(
        f"{BASE}/instance/connectionState/wa_1",
        json={"instance": {"instanceName": "wa_1", "state": "zombie"}},
    )
    with pytest.raises(GatewayError, match="unknown connection state") as err:
        gw.get_status("wa_1")
    assert err.value.code == "bad_response"


def test_an_unknown_instance_is_not_found(mocked_gateway, gw):
    mocked_gateway.get(
        f"{BASE}/instance/connectionState/wa_1", status=404, json=evolution("instance_not_found")
    )
    with pytest.raises(GatewayError) as err:
        gw.get_status("wa_1")
    assert (err.value.code, err.value.permanent) == ("not_found", True)
    assert err.value.message == 'Evolution API: The "wa_1" instance does not exist'


def test_it_logs_the_instance_out(mocked_gateway, gw):
    logout = mocked_gateway.delete(
        f"{BASE}/instance/logout/wa_1",
        json=evolution("logout_done"),
        match=[only_the_apikey_header],
    )
    gw.delete_session("wa_1")
    assert logout.call_count == 1


def test_logging_out_an_instance_already_closed_is_done(mocked_gateway, gw):
    mocked_gateway.delete(
        f"{BASE}/instance/logout/wa_1", status=400, json=evolution("logout_not_connected")
    )
    gw.delete_session("wa_1")  # no error


def test_logging_out_an_unknown_instance_is_not_found(mocked_gateway, gw):
    mocked_gateway.delete(
        f"{BASE}/instance/logout/wa_1", status=404, json=evolution("instance_not_found")
    )
    with pytest.raises(GatewayError) as err:
        gw.delete_session("wa_1")
    assert err.value.code == "not_found"


# --- QR --------------------------------------------------------------------------------------------
def test_it_returns_the_qr_code_text(mocked_gateway, gw):
    mocked_gateway.get(f"{BASE}/instance/connect/wa_1", json=evolution("connect_qr"))
    assert gw.get_qr("wa_1") == evolution("connect_qr")["code"]


@pytest.mark.parametrize("fixture", ["connect_open", "connect_no_code_yet"])
def test_there_is_no_qr_when_connected_or_not_ready(mocked_gateway, gw, fixture):
    mocked_gateway.get(f"{BASE}/instance/connect/wa_1", json=evolution(fixture))
    assert gw.get_qr("wa_1") is None


def test_there_is_no_qr_for_an_unknown_instance(mocked_gateway, gw):
    mocked_gateway.get(
        f"{BASE}/instance/connect/wa_1", status=404, json=evolution("instance_not_found")
    )
    assert gw.get_qr("wa_1") is None


def test_a_connect_failure_answered_200_is_an_error(mocked_gateway, gw):
    mocked_gateway.get(f"{BASE}/instance/connect/wa_1", json=evolution("connect_failed"))
    with pytest.raises(GatewayError, match="Connection Failure") as err:
        gw.get_qr("wa_1")
    assert (err.value.code, err.value.permanent) == ("server_error", False)


# --- groups ----------------------------------------------------------------------------------------
def test_it_reads_groups_with_community_flags(mocked_gateway, gw):
    mocked_gateway.get(
        f"{BASE}/group/fetchAllGroups/wa_1",
        json=evolution("groups"),
        match=[responses.matchers.query_param_matcher({"getParticipants": "false"})],
    )
    groups = {g.jid: g for g in gw.list_groups("wa_1")}
    assert [(g.subject, g.size) for g in groups.values()] == [
        ("Tour crew", 3),
        ("Label community", 250),
        ("Label community announcements", 250),
        ("Press (admins only)", 12),
    ]
    assert groups["120363000000000001@g.us"].is_community is True  # skipped by group_sync
    announce = groups["120363222222222222@g.us"]
    assert (announce.is_community, announce.is_community_announce, announce.linked_parent) == (
        False,
        True,
        "120363000000000001@g.us",
    )
    # An announcement-only group (only admins write) is an ordinary group: kept.
    press = groups["120363333333333333@g.us"]
    assert (press.is_community, press.is_community_announce, press.linked_parent) == (
        False,
        False,
        None,
    )


@pytest.mark.parametrize("body", [{"groups": []}, [{"subject": "no id"}]])
def test_a_group_answer_in_another_shape_is_a_bad_response(mocked_gateway, gw, body):
    mocked_gateway.get(f"{BASE}/group/fetchAllGroups/wa_1", json=body)
    with pytest.raises(GatewayError) as err:
        gw.list_groups("wa_1")
    assert err.value.code == "bad_response"


def test_groups_of_a_closed_connection_are_not_connected(mocked_gateway, gw):
    mocked_gateway.get(
        f"{BASE}/group/fetchAllGroups/wa_1",
        status=500,
        json=evolution("connection_closed_500_text"),
    )
    with pytest.raises(GatewayError) as err:
        gw.list_groups("wa_1")
    assert (err.value.code, err.value.permanent, err.value.ambiguous) == (
        "not_connected",
        False,
        False,
    )


def test_participants_of_a_closed_connection_are_not_connected(mocked_gateway, gw):
    mocked_gateway.get(
        f"{BASE}/group/participants/wa_1?groupJid=120363111111111111%40g.us",
        status=404,
        json=evolution("participants_connection_closed_404"),
    )
    with pytest.raises(GatewayError) as err:
        gw.list_participants("wa_1", "120363111111111111@g.us")
    assert (err.value.code, err.value.permanent, err.value.ambiguous) == (
        "not_connected",
        False,
        False,
    )
    assert "Connection Closed" in err.value.message


def test_another_server_error_keeps_evolutions_text(mocked_gateway, gw):
    mocked_gateway.get(
        f"{BASE}/group/fetchAllGroups/wa_1", status=500, json=evolution("server_error")
    )
    with pytest.raises(GatewayError) as err:
        gw.list_groups("wa_1")
    assert err.value.code == "server_error"
    assert err.value.message == (
        "Evolution API error 500: Cannot convert undefined or null to object"
    )


# --- send ------------------------------------------------------------------------------------------
def test_it_sends_text_and_returns_the_key_id(mocked_gateway, gw):
    mocked_gateway.post(
        f"{BASE}/message/sendText/wa_1",
        status=201,
        json=evolution("send_text"),
        match=[
            responses.matchers.json_params_matcher(
                {"number": "120363111111111111@g.us", "text": "Soundcheck at 5"}
            ),
            only_the_apikey_header,
        ],
    )
    assert send(gw) == "BAE594145F4C59B4"


@pytest.mark.parametrize(
    ("status", "fixture"),
    [
        (400, "connection_closed_400"),
        (500, "connection_closed_500"),
        (500, "connection_closed_500_text"),
    ],
)
def test_connection_closed_on_send_is_temporary(mocked_gateway, gw, status, fixture):
    mocked_gateway.post(f"{BASE}/message/sendText/wa_1", status=status, json=evolution(fixture))
    with pytest.raises(GatewayError) as err:
        send(gw)
    exc = err.value
    assert (exc.code, exc.status_code, exc.permanent, exc.ambiguous) == (
        "not_connected",
        status,
        False,
        False,
    )
    assert "Connection Closed" in exc.message


def test_a_number_without_whatsapp_is_permanent(mocked_gateway, gw):
    mocked_gateway.post(
        f"{BASE}/message/sendText/wa_1", status=400, json=evolution("number_not_on_whatsapp")
    )
    with pytest.raises(GatewayError) as err:
        send(gw)
    assert (err.value.code, err.value.permanent) == ("rejected", True)
    assert err.value.message == (
        "Evolution API refused the request (400): 4915199999999 is not on WhatsApp"
    )


def test_a_send_without_key_id_is_ambiguous(mocked_gateway, gw):
    mocked_gateway.post(f"{BASE}/message/sendText/wa_1", status=201, json={"status": "PENDING"})
    with pytest.raises(GatewayError) as err:
        send(gw)
    assert (err.value.code, err.value.ambiguous) == ("bad_response", True)


def test_another_500_on_send_is_ambiguous(mocked_gateway, gw):
    mocked_gateway.post(f"{BASE}/message/sendText/wa_1", status=500, json=evolution("server_error"))
    with pytest.raises(GatewayError) as err:
        send(gw)
    assert (err.value.code, err.value.permanent, err.value.ambiguous) == (
        "server_error",
        False,
        True,
    )


# --- transport and auth failures, mapped as VpsGateway maps them -----------------------------------
def test_a_wrong_api_key_is_temporary_and_named(mocked_gateway, gw):
    mocked_gateway.post(f"{BASE}/message/sendText/wa_1", status=401, json=evolution("unauthorized"))
    with pytest.raises(GatewayError, match="GATEWAY_API_KEY") as err:
        send(gw)
    assert (err.value.code, err.value.permanent, err.value.ambiguous) == (
        "unauthorized",
        False,
        False,
    )


def test_connection_refused_is_unreachable(mocked_gateway, gw):
    mocked_gateway.get(
        f"{BASE}/instance/connectionState/wa_1",
        body=requests.exceptions.ConnectionError("[Errno 111] Connection refused"),
    )
    with pytest.raises(GatewayError) as err:
        gw.get_status("wa_1")
    assert (err.value.code, err.value.ambiguous) == ("unreachable", False)


def test_a_read_timeout_on_send_is_ambiguous(mocked_gateway, gw):
    mocked_gateway.post(
        f"{BASE}/message/sendText/wa_1", body=requests.exceptions.ReadTimeout("read timed out")
    )
    with pytest.raises(GatewayError) as err:
        send(gw)
    assert (err.value.code, err.value.ambiguous) == ("timeout", True)


@pytest.mark.parametrize("body", ["{not json", "<html>nginx</html>"])
def test_malformed_json_is_a_bad_response(mocked_gateway, gw, body):
    mocked_gateway.get(f"{BASE}/group/fetchAllGroups/wa_1", status=200, body=body)
    with pytest.raises(GatewayError) as err:
        gw.list_groups("wa_1")
    assert (err.value.code, err.value.ambiguous) == ("bad_response", False)


def test_malformed_json_after_a_send_is_ambiguous(mocked_gateway, gw):
    mocked_gateway.post(f"{BASE}/message/sendText/wa_1", status=201, body="{truncated")
    with pytest.raises(GatewayError) as err:
        send(gw)
    assert (err.value.code, err.value.ambiguous) == ("bad_response", True)
