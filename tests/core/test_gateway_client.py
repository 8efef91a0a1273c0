"""Each failure kind of the gateway becomes one GatewayError with a short human message."""

from __future__ import annotations

import pytest
import requests
import responses

from whatsapp_crm.gateway import GatewayError, VpsGateway, get_gateway

BASE = "http://gateway.test"


@pytest.fixture
def gw() -> VpsGateway:
    return VpsGateway(base_url=BASE, api_key="k-123", timeout=2.0)


def test_it_sends_the_api_key_and_parses_status(mocked_gateway, gw):
    mocked_gateway.get(
        f"{BASE}/sessions/wa_1/status",
        json={
            "sessionId": "wa_1",
            "status": "connected",
            "phoneNumber": "4915112345678",
            "error": None,
        },
        match=[responses.matchers.header_matcher({"X-API-Key": "k-123"})],
    )
    status = gw.get_status("wa_1")
    assert (status.status, status.phone_number, status.error) == (
        "connected",
        "4915112345678",
        None,
    )


def test_it_maps_connection_refused_to_unreachable(mocked_gateway, gw):
    mocked_gateway.post(
        f"{BASE}/send", body=requests.exceptions.ConnectionError("[Errno 111] Connection refused")
    )
    with pytest.raises(GatewayError) as err:
        gw.send_message(session_id="wa_1", to="1@g.us", message="hi", client_message_id="c1")
    exc = err.value
    assert exc.code == "unreachable"
    assert "refused" in exc.message
    assert not exc.permanent and not exc.ambiguous


def test_it_maps_a_read_timeout_to_an_ambiguous_error(mocked_gateway, gw):
    mocked_gateway.post(f"{BASE}/send", body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(GatewayError) as err:
        gw.send_message(session_id="wa_1", to="1@g.us", message="hi", client_message_id="c1")
    assert err.value.code == "timeout"
    assert err.value.ambiguous is True
    assert "did not answer" in err.value.message


def test_it_maps_a_connect_timeout_to_unreachable_and_not_ambiguous(mocked_gateway, gw):
    mocked_gateway.get(f"{BASE}/sessions/wa_1/status", body=requests.exceptions.ConnectTimeout())
    with pytest.raises(GatewayError) as err:
        gw.get_status("wa_1")
    assert err.value.code == "unreachable"
    assert err.value.ambiguous is False


def test_it_maps_503_to_temporary_not_connected_with_the_gateway_message(mocked_gateway, gw):
    mocked_gateway.post(f"{BASE}/send", status=503, json={"error": "Session wa_1 not connected"})
    with pytest.raises(GatewayError) as err:
        gw.send_message(session_id="wa_1", to="1@g.us", message="hi", client_message_id="c1")
    exc = err.value
    assert (exc.code, exc.status_code, exc.permanent, exc.ambiguous) == (
        "not_connected",
        503,
        False,
        False,
    )
    assert exc.not_connected
    assert exc.message == "Session wa_1 not connected"
    assert exc.body == {"error": "Session wa_1 not connected"}


def test_it_maps_500_on_send_to_a_temporary_ambiguous_error(mocked_gateway, gw):
    mocked_gateway.post(f"{BASE}/send", status=500, json={"error": "boom"})
    with pytest.raises(GatewayError) as err:
        gw.send_message(session_id="wa_1", to="1@g.us", message="hi", client_message_id="c1")
    assert (err.value.code, err.value.permanent, err.value.ambiguous) == (
        "server_error",
        False,
        True,
    )
    assert err.value.message == "Gateway error 500: boom"


def test_it_maps_500_on_a_read_to_a_temporary_unambiguous_error(mocked_gateway, gw):
    mocked_gateway.get(f"{BASE}/sessions/wa_1/groups", status=502, body="<html>Bad gateway</html>")
    with pytest.raises(GatewayError) as err:
        gw.list_groups("wa_1")
    assert (err.value.code, err.value.ambiguous) == ("server_error", False)
    assert err.value.message == "Gateway error 502: internal error"


@pytest.mark.parametrize(
    ("status", "code"),
    [(400, "rejected"), (404, "not_found"), (422, "rejected")],
)
def test_it_maps_4xx_to_permanent_errors(mocked_gateway, gw, status, code):
    mocked_gateway.post(f"{BASE}/send", status=status, json={"error": "invalid jid"})
    with pytest.raises(GatewayError) as err:
        gw.send_message(session_id="wa_1", to="x", message="hi", client_message_id="c1")
    assert err.value.permanent is True
    assert err.value.code == code
    assert err.value.status_code == status


@pytest.mark.parametrize("status", [401, 403])
def test_it_names_the_api_key_and_keeps_sends_waiting_on_401_and_403(mocked_gateway, gw, status):
    mocked_gateway.post(f"{BASE}/send", status=status, json={"error": "invalid API key"})
    with pytest.raises(GatewayError, match="GATEWAY_API_KEY") as err:
        gw.send_message(session_id="wa_1", to="1@g.us", message="hi", client_message_id="c1")
    # Our key is wrong, not the message: temporary, so queued rows wait for the fix.
    assert (err.value.code, err.value.permanent, err.value.ambiguous) == (
        "unauthorized",
        False,
        False,
    )


def test_it_rejects_a_2xx_body_that_is_not_json(mocked_gateway, gw):
    mocked_gateway.get(f"{BASE}/sessions/wa_1/groups", status=200, body="<html>login</html>")
    with pytest.raises(GatewayError) as err:
        gw.list_groups("wa_1")
    assert err.value.code == "bad_response"
    assert "not JSON" in err.value.message


def test_it_rejects_a_group_answer_without_a_groups_list(mocked_gateway, gw):
    mocked_gateway.get(f"{BASE}/sessions/wa_1/groups", json={"data": []})
    with pytest.raises(GatewayError, match="expected format"):
        gw.list_groups("wa_1")


def test_it_treats_a_send_without_message_id_as_ambiguous(mocked_gateway, gw):
    mocked_gateway.post(f"{BASE}/send", json={"ok": True})
    with pytest.raises(GatewayError) as err:
        gw.send_message(session_id="wa_1", to="1@g.us", message="hi", client_message_id="c1")
    assert err.value.ambiguous is True


def test_it_returns_none_for_a_missing_qr(mocked_gateway, gw):
    mocked_gateway.get(f"{BASE}/sessions/wa_1/qr", status=404, json={"error": "no qr"})
    assert gw.get_qr("wa_1") is None


def test_it_rejects_an_unknown_session_status(mocked_gateway, gw):
    mocked_gateway.get(
        f"{BASE}/sessions/wa_1/status", json={"sessionId": "wa_1", "status": "zombie"}
    )
    with pytest.raises(GatewayError, match="unknown session status"):
        gw.get_status("wa_1")


def test_it_parses_groups(mocked_gateway, gw):
    mocked_gateway.get(
        f"{BASE}/sessions/wa_1/groups",
        json={
            "groups": [
                {
                    "id": "1@g.us",
                    "subject": "A",
                    "size": 3,
                    "isCommunity": False,
                    "isCommunityAnnounce": True,
                    "linkedParent": "2@g.us",
                },
                {"id": "2@g.us", "subject": "P", "size": "x", "isCommunity": True},
            ]
        },
    )
    groups = gw.list_groups("wa_1")
    assert [(g.jid, g.is_community, g.is_community_announce, g.size) for g in groups] == [
        ("1@g.us", False, True, 3),
        ("2@g.us", True, False, 0),
    ]


def test_it_refuses_an_unknown_backend(settings):
    settings.GATEWAY_BACKEND = "nope"
    with pytest.raises(GatewayError, match="Unknown GATEWAY_BACKEND"):
        get_gateway()


def test_it_times_out_every_call(settings):
    gw = VpsGateway(base_url=BASE, api_key="k", timeout=3.0)
    calls = []

    class Recorder(requests.Session):
        def request(self, method, url, **kwargs):
            calls.append(kwargs["timeout"])
            raise requests.exceptions.ConnectTimeout()

    gw.http = Recorder()
    for call in (
        lambda: gw.get_status("a"),
        lambda: gw.list_groups("a"),
        lambda: gw.delete_session("a"),
    ):
        with pytest.raises(GatewayError):
            call()
    assert all(t is not None and t[1] == 3.0 for t in calls)


def test_it_words_a_dropped_connection_for_people_and_marks_it_ambiguous(mocked_gateway, gw):
    mocked_gateway.post(
        f"{BASE}/send",
        body=requests.exceptions.ConnectionError(
            "('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))"
        ),
    )
    with pytest.raises(GatewayError) as err:
        gw.send_message(session_id="wa_1", to="1@g.us", message="hi", client_message_id="c1")
    assert err.value.message == (
        "The connection to the gateway broke before it answered (the gateway closed the connection)."
    )
    assert err.value.ambiguous is True


def test_it_treats_an_unresolvable_host_as_unreachable_and_not_ambiguous(mocked_gateway, gw):
    mocked_gateway.post(
        f"{BASE}/send",
        body=requests.exceptions.ConnectionError("NameResolutionError: Name or service not known"),
    )
    with pytest.raises(GatewayError) as err:
        gw.send_message(session_id="wa_1", to="1@g.us", message="hi", client_message_id="c1")
    assert err.value.message == "Gateway unreachable: the gateway host name cannot be resolved."
    assert err.value.ambiguous is False


@pytest.mark.parametrize(
    ("error", "unreachable"),
    [
        (requests.exceptions.ConnectionError("[Errno 111] Connection refused"), True),
        (requests.exceptions.ConnectTimeout(), True),
        (requests.exceptions.ReadTimeout("read timed out"), False),
        (requests.exceptions.ConnectionError("Connection reset by peer"), False),
    ],
    ids=["refused", "connect-timeout", "read-timeout", "reset"],
)
def test_it_calls_the_gateway_unreachable_only_when_the_request_never_left(
    mocked_gateway, gw, error, unreachable
):
    mocked_gateway.post(f"{BASE}/send", body=error)
    with pytest.raises(GatewayError) as err:
        gw.send_message(session_id="wa_1", to="1@g.us", message="hi", client_message_id="c1")
    assert err.value.unreachable is unreachable
    assert err.value.ambiguous is not unreachable


def test_it_marks_an_answer_that_broke_off_as_ambiguous(mocked_gateway, gw):
    mocked_gateway.post(
        f"{BASE}/send", body=requests.exceptions.ChunkedEncodingError("Connection broken")
    )
    with pytest.raises(GatewayError) as err:
        gw.send_message(session_id="wa_1", to="1@g.us", message="hi", client_message_id="c1")
    assert (err.value.ambiguous, err.value.unreachable) == (True, False)
