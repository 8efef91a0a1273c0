"""With PUBLIC_BASE_URL set, creating a session on WAHA or Evolution API registers the CRM's
webhook receiver with the gateway (URL, X-Api-Key header, WAHA's HMAC key)."""

from __future__ import annotations

import json

import pytest
import responses

from sessions_app import services as session_services
from sessions_app.models import WhatsAppSession
from tests.gateways_app.conftest import EVOLUTION_URL, WAHA_URL
from tests.helpers import load_payload
from whatsapp_crm.gateway import GatewayError

pytestmark = pytest.mark.django_db

PUBLIC = "https://crm.example.com"


def waha(name: str):
    return load_payload(f"../waha/{name}")


def evolution(name: str):
    return load_payload(f"../evolution/{name}")


def sent_json(mocked, method: str, url_part: str) -> list[dict]:
    return [
        json.loads(c.request.body)
        for c in mocked.calls
        if c.request.method == method and url_part in c.request.url
    ]


def test_a_waha_session_is_created_with_our_webhook(
    settings, organization, waha_gateway, mocked_gateway
):
    settings.PUBLIC_BASE_URL = PUBLIC
    mocked_gateway.post(f"{WAHA_URL}/api/sessions", status=201, json=waha("session_created"))

    session = session_services.session_create(organization=organization, gateway=waha_gateway)

    [body] = sent_json(mocked_gateway, "POST", "/api/sessions")
    secret = waha_gateway.webhook_secret
    assert body == {
        "name": session.session_id,
        "start": True,
        "config": {
            "metadata": {"whatsapp_crm.session_id": session.session_id},
            "webhooks": [
                {
                    "url": f"{PUBLIC}/api/webhooks/waha/{waha_gateway.pk}/",
                    "events": [
                        "session.status",
                        "message.ack",
                        "message.ack.group",
                        "group.v2.participants",
                    ],
                    "customHeaders": [{"name": "X-Api-Key", "value": secret}],
                    "hmac": {"key": secret},
                }
            ],
        },
    }


def test_an_older_waha_gets_the_events_it_knows(
    settings, organization, waha_gateway, mocked_gateway
):
    settings.PUBLIC_BASE_URL = PUBLIC
    # WAHA 2024.10.8's ValidationPipe answer for an event name outside its enum.
    refusal = {
        "statusCode": 400,
        "message": [
            "config.webhooks.0.each value in events must be one of the following values: "
            "session.status, message, message.reaction, message.any, message.ack"
        ],
        "error": "Bad Request",
    }
    mocked_gateway.post(f"{WAHA_URL}/api/sessions", status=400, json=refusal)
    mocked_gateway.post(f"{WAHA_URL}/api/sessions", status=201, json=waha("session_created"))

    session_services.session_create(organization=organization, gateway=waha_gateway)

    first, second = sent_json(mocked_gateway, "POST", "/api/sessions")
    assert len(first["config"]["webhooks"][0]["events"]) == 4
    assert second["config"]["webhooks"][0]["events"] == ["session.status", "message.ack"]


def test_a_waha_session_that_exists_gets_the_config_before_its_restart(
    settings, organization, waha_gateway, mocked_gateway, gateway_session
):
    settings.PUBLIC_BASE_URL = PUBLIC
    waha_gateway.waha_single_session = True  # WAHA Core: `default` always exists
    waha_gateway.save()
    mocked_gateway.post(f"{WAHA_URL}/api/sessions", status=422, json=waha("session_already_exists"))
    put = mocked_gateway.put(f"{WAHA_URL}/api/sessions/default", json=waha("session_created"))
    restart = mocked_gateway.post(
        f"{WAHA_URL}/api/sessions/default/restart", status=201, json=waha("session_restarted")
    )

    session = session_services.session_create(organization=organization, gateway=waha_gateway)

    assert (put.call_count, restart.call_count) == (1, 1)
    [config] = sent_json(mocked_gateway, "PUT", "/api/sessions/default")
    assert config["config"]["metadata"] == {"whatsapp_crm.session_id": session.session_id}


def test_an_evolution_instance_gets_our_webhook_after_creation(
    settings, organization, evolution_gateway, mocked_gateway
):
    settings.PUBLIC_BASE_URL = PUBLIC
    mocked_gateway.post(
        f"{EVOLUTION_URL}/instance/create", status=201, json=evolution("instance_created")
    )
    webhook_set = mocked_gateway.add(
        responses.POST,
        url=responses.matchers.re.compile(rf"{EVOLUTION_URL}/webhook/set/wa_\w+"),
        status=201,
        json={"webhook": {"enabled": True}},
    )

    session = session_services.session_create(organization=organization, gateway=evolution_gateway)

    assert webhook_set.call_count == 1
    [body] = sent_json(mocked_gateway, "POST", f"/webhook/set/{session.session_id}")
    assert body == {
        "webhook": {
            "enabled": True,
            "url": f"{PUBLIC}/api/webhooks/evolution/{evolution_gateway.pk}/",
            "headers": {"X-Api-Key": evolution_gateway.webhook_secret},
            "byEvents": False,
            "base64": False,
            "events": ["CONNECTION_UPDATE", "MESSAGES_UPDATE", "GROUP_PARTICIPANTS_UPDATE"],
        }
    }


def test_the_default_gateway_registers_with_the_environments_keys(
    settings, organization, mocked_gateway
):
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.GATEWAY_BACKEND = "waha"
    settings.WEBHOOK_HMAC_SECRET = "hmac-of-the-env"
    mocked_gateway.post(
        f"{settings.GATEWAY_URL}/api/sessions", status=201, json=waha("session_created")
    )

    session_services.session_create(organization=organization)

    [body] = sent_json(mocked_gateway, "POST", "/api/sessions")
    [hook] = body["config"]["webhooks"]
    assert hook["url"] == f"{PUBLIC}/api/webhooks/waha/"
    assert hook["customHeaders"] == [{"name": "X-Api-Key", "value": settings.WEBHOOK_API_KEY}]
    assert hook["hmac"] == {"key": "hmac-of-the-env"}


def test_without_public_base_url_nothing_is_registered(
    settings, organization, waha_gateway, evolution_gateway, mocked_gateway
):
    settings.PUBLIC_BASE_URL = ""
    mocked_gateway.post(f"{WAHA_URL}/api/sessions", status=201, json=waha("session_created"))
    mocked_gateway.post(
        f"{EVOLUTION_URL}/instance/create", status=201, json=evolution("instance_created")
    )

    session_services.session_create(organization=organization, gateway=waha_gateway)
    session_services.session_create(organization=organization, gateway=evolution_gateway)

    [waha_body] = sent_json(mocked_gateway, "POST", "/api/sessions")
    assert "config" not in waha_body
    assert not any("/webhook/set/" in c.request.url for c in mocked_gateway.calls)


@pytest.mark.parametrize("delete_status", [200, 500], ids=["removed", "not-removed"])
def test_a_new_evolution_instance_whose_webhook_fails_is_removed_and_nothing_is_stored(
    settings, organization, evolution_gateway, mocked_gateway, delete_status
):
    settings.PUBLIC_BASE_URL = PUBLIC
    mocked_gateway.post(
        f"{EVOLUTION_URL}/instance/create", status=201, json=evolution("instance_created")
    )
    mocked_gateway.add(
        responses.POST,
        url=responses.matchers.re.compile(rf"{EVOLUTION_URL}/webhook/set/wa_\w+"),
        status=400,
        json={"status": 400, "error": "Bad Request", "response": {"message": ["Invalid url"]}},
    )
    delete = mocked_gateway.add(
        responses.DELETE,
        url=responses.matchers.re.compile(rf"{EVOLUTION_URL}/instance/delete/wa_\w+"),
        status=delete_status,
        json={"status": "SUCCESS", "error": False, "response": {"message": "Instance deleted"}}
        if delete_status == 200
        else evolution("server_error"),
    )

    with pytest.raises(GatewayError) as err:
        session_services.session_create(organization=organization, gateway=evolution_gateway)

    assert delete.call_count == 1
    assert "Invalid url" in err.value.message
    if delete_status == 200:
        assert "was removed again: nothing was left behind" in err.value.message
    else:
        assert "could not be removed" in err.value.message
        assert "delete it in Evolution API's manager" in err.value.message
    assert not WhatsAppSession.objects.exists()
