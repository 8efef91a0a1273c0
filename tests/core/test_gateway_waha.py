"""The WAHA adapter against recorded WAHA answers (tests/fixtures/waha/, sources in its README)."""

from __future__ import annotations

import pytest
import requests
import responses

from tests.helpers import load_payload
from whatsapp_crm.gateway import GatewayError, get_gateway
from whatsapp_crm.gateway_waha import WahaGateway

BASE = "http://waha.test"
SENT = {"session": "wa_1", "chatId": "120363111111111111@g.us", "text": "Soundcheck at 5"}


def waha(name: str):
    return load_payload(f"../waha/{name}")


@pytest.fixture
def gw() -> WahaGateway:
    return WahaGateway(base_url=BASE, api_key="k-123", timeout=2.0, single_session=False)


def send(gw: WahaGateway) -> str:
    return gw.send_message(
        session_id="wa_1",
        to="120363111111111111@g.us",
        message="Soundcheck at 5",
        client_message_id="c1",
    )


# --- sessions --------------------------------------------------------------------------------------
def test_it_creates_and_starts_a_session_with_its_api_key(mocked_gateway, gw):
    mocked_gateway.post(
        f"{BASE}/api/sessions",
        status=201,
        json=waha("session_created"),
        match=[
            responses.matchers.json_params_matcher({"name": "wa_1", "start": True}),
            responses.matchers.header_matcher({"X-Api-Key": "k-123"}),
        ],
    )
    status = gw.create_session("wa_1")
    assert (status.session_id, status.status, status.error) == ("wa_1", "connecting", None)


def test_it_restarts_a_session_waha_already_has(mocked_gateway, gw):
    mocked_gateway.post(f"{BASE}/api/sessions", status=422, json=waha("session_already_exists"))
    restart = mocked_gateway.post(
        f"{BASE}/api/sessions/wa_1/restart", status=201, json=waha("session_restarted")
    )
    assert gw.create_session("wa_1").status == "connecting"
    assert restart.call_count == 1


def test_it_maps_every_session_to_default_on_waha_core(mocked_gateway):
    gw = WahaGateway(base_url=BASE, api_key="k", timeout=2.0, single_session=True)
    mocked_gateway.post(
        f"{BASE}/api/sessions",
        status=201,
        json=waha("session_created"),
        match=[responses.matchers.json_params_matcher({"name": "default", "start": True})],
    )
    mocked_gateway.get(f"{BASE}/api/sessions/default", json=waha("session_working"))
    mocked_gateway.post(
        f"{BASE}/api/sendText",
        status=201,
        json=waha("send_text_noweb"),
        match=[responses.matchers.json_params_matcher({**SENT, "session": "default"})],
    )
    gw.create_session("wa_1")
    status = gw.get_status("wa_1")
    assert (status.session_id, status.status) == ("wa_1", "connected")
    assert send(gw) == "BAE5F2D1C8A94B1E"


def test_gateway_backend_waha_picks_this_adapter(settings):
    settings.GATEWAY_BACKEND = "waha"
    settings.GATEWAY_URL = BASE
    gateway = get_gateway()
    assert isinstance(gateway, WahaGateway)
    assert gateway.base_url == BASE


def test_it_reads_single_session_from_the_settings(settings):
    settings.WAHA_SINGLE_SESSION = True
    assert WahaGateway(base_url=BASE, api_key="k").session_name("wa_1") == "default"
    settings.WAHA_SINGLE_SESSION = False
    assert WahaGateway(base_url=BASE, api_key="k").session_name("wa_1") == "wa_1"


def test_it_says_how_to_fix_a_core_server_used_with_several_sessions(mocked_gateway, gw):
    mocked_gateway.post(f"{BASE}/api/sessions", status=422, json=waha("core_only_default"))
    with pytest.raises(GatewayError, match="WAHA_SINGLE_SESSION=true") as err:
        gw.create_session("wa_1")
    assert (err.value.code, err.value.permanent) == ("misconfigured", True)


@pytest.mark.parametrize(
    ("fixture", "status", "error"),
    [
        ("session_scan_qr_code", "connecting", None),
        ("session_passkey_required", "connecting", "PASSKEY_REQUIRED"),
        ("session_failed", "disconnected", "FAILED"),
        ("session_stopped", "disconnected", "STOPPED"),
    ],
)
def test_it_maps_waha_session_states(mocked_gateway, gw, fixture, status, error):
    mocked_gateway.get(f"{BASE}/api/sessions/wa_1", json=waha(fixture))
    result = gw.get_status("wa_1")
    assert (result.status, result.phone_number) == (status, None)
    if error is None:
        assert result.error is None
    else:
        assert error in result.error


@pytest.mark.parametrize("state", ["STARTING", "PASSKEY_CONFIRMATION_REQUIRED"])
def test_it_maps_other_waiting_states_to_connecting(mocked_gateway, gw, state):
    mocked_gateway.get(
        f"{BASE}/api/sessions/wa_1", json={**waha("session_scan_qr_code"), "status": state}
    )
    assert gw.get_status("wa_1").status == "connecting"


def test_it_reads_the_phone_number_from_me_id(mocked_gateway, gw):
    mocked_gateway.get(f"{BASE}/api/sessions/wa_1", json=waha("session_working"))
    result = gw.get_status("wa_1")
    assert (result.status, result.phone_number, result.error) == (
        "connected",
        "4915112345678",
        None,
    )


def test_it_rejects_an_unknown_waha_state(mocked_gateway, gw):
    mocked_gateway.get(
        f"{BASE}/api/sessions/wa_1", json={**waha("session_failed"), "status": "ZOMBIE"}
    )
    with pytest.raises(GatewayError, match="unknown session status") as err:
        gw.get_status("wa_1")
    assert err.value.code == "bad_response"


def test_an_unknown_session_is_not_found(mocked_gateway, gw):
    mocked_gateway.get(f"{BASE}/api/sessions/wa_1", status=404, json=waha("session_not_found"))
    with pytest.raises(GatewayError) as err:
        gw.get_status("wa_1")
    assert (err.value.code, err.value.permanent) == ("not_found", True)
    assert err.value.message == "WAHA: Session not found"


def test_it_deletes_the_session_on_logout(mocked_gateway, gw):
    deleted = mocked_gateway.delete(f"{BASE}/api/sessions/wa_1", status=200, body="")
    gw.delete_session("wa_1")
    assert deleted.call_count == 1


# --- QR --------------------------------------------------------------------------------------------
def test_it_returns_the_raw_qr_value(mocked_gateway, gw):
    mocked_gateway.get(
        f"{BASE}/api/wa_1/auth/qr",
        json=waha("qr_raw"),
        match=[responses.matchers.query_param_matcher({"format": "raw"})],
    )
    assert gw.get_qr("wa_1") == waha("qr_raw")["value"]


@pytest.mark.parametrize(
    ("status", "fixture"),
    [(422, "session_status_not_expected"), (404, "session_not_found")],
)
def test_there_is_no_qr_outside_scan_qr_code(mocked_gateway, gw, status, fixture):
    mocked_gateway.get(f"{BASE}/api/wa_1/auth/qr", status=status, json=waha(fixture))
    assert gw.get_qr("wa_1") is None


def test_a_qr_answer_without_value_is_a_bad_response(mocked_gateway, gw):
    mocked_gateway.get(f"{BASE}/api/wa_1/auth/qr", json={"mimetype": "image/png"})
    with pytest.raises(GatewayError, match="without a QR code") as err:
        gw.get_qr("wa_1")
    assert err.value.code == "bad_response"


# --- groups ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("engine", ["webjs", "noweb", "gows"])
def test_it_reads_groups_in_every_engines_shape(mocked_gateway, gw, engine):
    mocked_gateway.get(f"{BASE}/api/wa_1/groups", json=waha(f"groups_{engine}"))
    groups = {g.jid: g for g in gw.list_groups("wa_1")}
    assert set(groups) == {
        "120363111111111111@g.us",
        "120363000000000001@g.us",
        "120363222222222222@g.us",
    }
    crew = groups["120363111111111111@g.us"]
    assert (crew.subject, crew.size, crew.is_community, crew.is_community_announce) == (
        "Tour crew",
        3,
        False,
        False,
    )
    assert crew.linked_parent is None
    # The community parent is flagged so that group_sync skips it ...
    assert groups["120363000000000001@g.us"].is_community is True
    # ... and its announcement group is kept, linked to its parent.
    announce = groups["120363222222222222@g.us"]
    assert (announce.is_community, announce.is_community_announce, announce.linked_parent) == (
        False,
        True,
        "120363000000000001@g.us",
    )
    assert announce.subject == "Label community announcements"


def test_gows_groups_without_participant_count_are_counted(mocked_gateway, gw):
    mocked_gateway.get(f"{BASE}/api/wa_1/groups", json=waha("groups_gows"))
    sizes = {g.jid: g.size for g in gw.list_groups("wa_1")}
    assert sizes["120363222222222222@g.us"] == 2  # no ParticipantCount: len(Participants)


def test_it_takes_the_jid_from_the_key_of_an_object_answer(mocked_gateway, gw):
    mocked_gateway.get(f"{BASE}/api/wa_1/groups", json={"1203@g.us": {"subject": "No id inside"}})
    [group] = gw.list_groups("wa_1")
    assert (group.jid, group.subject) == ("1203@g.us", "No id inside")


@pytest.mark.parametrize("body", [[{"subject": "no id"}], ["1203@g.us"], {"groups": "x"}])
def test_a_group_without_an_id_is_a_bad_response(mocked_gateway, gw, body):
    mocked_gateway.get(f"{BASE}/api/wa_1/groups", json=body)
    with pytest.raises(GatewayError) as err:
        gw.list_groups("wa_1")
    assert err.value.code == "bad_response"


def test_groups_of_a_session_that_is_not_working_are_not_connected(mocked_gateway, gw):
    mocked_gateway.get(
        f"{BASE}/api/wa_1/groups", status=422, json=waha("session_status_not_expected")
    )
    with pytest.raises(GatewayError) as err:
        gw.list_groups("wa_1")
    assert (err.value.code, err.value.permanent) == ("not_connected", False)


# --- send ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fixture", "message_id"),
    [
        ("send_text_webjs", "3EB0C767D71D8D3A4F11"),
        ("send_text_noweb", "BAE5F2D1C8A94B1E"),
        ("send_text_gows", "3EB0A1B2C3D4E5F60718"),
        ("send_text_wamessage", "AAAAAAAAAAAAAAAAAAAA"),
    ],
)
def test_it_sends_text_and_stores_the_bare_message_id(mocked_gateway, gw, fixture, message_id):
    mocked_gateway.post(
        f"{BASE}/api/sendText",
        status=201,
        json=waha(fixture),
        match=[responses.matchers.json_params_matcher(SENT)],
    )
    assert send(gw) == message_id


def test_a_send_to_a_session_that_is_not_working_is_temporary(mocked_gateway, gw):
    mocked_gateway.post(
        f"{BASE}/api/sendText", status=422, json=waha("session_status_not_expected")
    )
    with pytest.raises(GatewayError) as err:
        send(gw)
    exc = err.value
    assert (exc.code, exc.status_code, exc.permanent, exc.ambiguous) == (
        "not_connected",
        422,
        False,
        False,
    )
    assert exc.not_connected
    assert "STARTING" in exc.message


def test_another_422_stays_permanent_with_wahas_text(mocked_gateway, gw):
    mocked_gateway.post(
        f"{BASE}/api/sendText",
        status=422,
        json={"message": "Invalid chatId", "error": "Unprocessable Entity", "statusCode": 422},
    )
    with pytest.raises(GatewayError) as err:
        send(gw)
    assert (err.value.code, err.value.permanent) == ("rejected", True)
    assert err.value.message == "WAHA refused the request (422): Invalid chatId"


def test_a_send_without_message_id_is_ambiguous(mocked_gateway, gw):
    mocked_gateway.post(f"{BASE}/api/sendText", status=201, json={"ack": 0})
    with pytest.raises(GatewayError) as err:
        send(gw)
    assert (err.value.code, err.value.ambiguous) == ("bad_response", True)


def test_a_500_on_send_is_ambiguous_with_wahas_text(mocked_gateway, gw):
    mocked_gateway.post(f"{BASE}/api/sendText", status=500, json=waha("server_error"))
    with pytest.raises(GatewayError) as err:
        send(gw)
    assert (err.value.code, err.value.permanent, err.value.ambiguous) == (
        "server_error",
        False,
        True,
    )
    assert "Evaluation failed" in err.value.message


# --- transport and auth failures, mapped as VpsGateway maps them -----------------------------------
def test_a_wrong_api_key_is_temporary_and_named(mocked_gateway, gw):
    mocked_gateway.get(f"{BASE}/api/sessions/wa_1", status=401, json=waha("unauthorized"))
    with pytest.raises(GatewayError, match="GATEWAY_API_KEY") as err:
        gw.get_status("wa_1")
    assert (err.value.code, err.value.permanent) == ("unauthorized", False)


def test_connection_refused_is_unreachable(mocked_gateway, gw):
    mocked_gateway.post(
        f"{BASE}/api/sendText",
        body=requests.exceptions.ConnectionError("[Errno 111] Connection refused"),
    )
    with pytest.raises(GatewayError) as err:
        send(gw)
    assert (err.value.code, err.value.ambiguous) == ("unreachable", False)
    assert "refused" in err.value.message


def test_a_read_timeout_on_send_is_ambiguous(mocked_gateway, gw):
    mocked_gateway.post(
        f"{BASE}/api/sendText", body=requests.exceptions.ReadTimeout("read timed out")
    )
    with pytest.raises(GatewayError) as err:
        send(gw)
    assert (err.value.code, err.value.ambiguous) == ("timeout", True)


@pytest.mark.parametrize("body", ["{not json", "<html>proxy login</html>"])
def test_malformed_json_is_a_bad_response(mocked_gateway, gw, body):
    mocked_gateway.get(f"{BASE}/api/sessions/wa_1", status=200, body=body)
    with pytest.raises(GatewayError) as err:
        gw.get_status("wa_1")
    assert err.value.code == "bad_response"
    assert "not JSON" in err.value.message


def test_malformed_json_after_a_send_is_ambiguous(mocked_gateway, gw):
    mocked_gateway.post(f"{BASE}/api/sendText", status=201, body="{truncated")
    with pytest.raises(GatewayError) as err:
        send(gw)
    assert (err.value.code, err.value.ambiguous) == ("bad_response", True)
