"""The gateways settings page (/settings/gateways/) and the gateway picker of the connect form:
admins and owners only, keys never shown back, another organization's gateway a 404."""

from __future__ import annotations

import pytest
import requests
from django.urls import reverse

from gateways_app.models import WhatsAppGateway
from sessions_app.models import WhatsAppSession
from tests.gateways_app.conftest import WAHA_KEY, WAHA_URL
from tests.helpers import load_payload

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
PAGE = "/settings/gateways/"
FORM = {
    "name": "Evolution Cologne",
    "kind": "evolution",
    "base_url": "http://evolution-cologne.test:8080",
    "api_key": "cologne-api-key-5531",
}


def test_an_admin_sees_the_gateways_and_never_their_keys(admin_client, waha_gateway):
    response = admin_client.get(PAGE)

    html = response.content.decode()
    assert response.status_code == 200
    assert "WAHA Berlin" in html and WAHA_URL in html
    assert f"/api/webhooks/waha/{waha_gateway.pk}/" in html
    assert WAHA_KEY not in html
    assert waha_gateway.webhook_secret not in html
    assert f'href="{PAGE}"' in html  # the link in the header


def test_a_member_gets_403_and_no_link(member_client, waha_gateway):
    assert member_client.get(PAGE).status_code == 403
    html = member_client.get("/").content.decode()
    assert f'href="{PAGE}"' not in html


def test_adding_shows_the_webhook_secret_once_and_the_key_never(admin_client):
    response = admin_client.post(PAGE, FORM)

    html = response.content.decode()
    gateway = WhatsAppGateway.objects.get(name="Evolution Cologne")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert gateway.webhook_secret in html
    assert FORM["api_key"] not in html
    assert gateway.api_key == FORM["api_key"]
    again = admin_client.get(PAGE).content.decode()
    assert gateway.webhook_secret not in again and FORM["api_key"] not in again


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"base_url": "javascript:alert(1)"}, "Enter a valid URL."),
        ({"kind": "nope"}, "Select a valid choice."),
        ({"name": "a\x00b"}, "Null characters are not allowed."),
        ({"api_key": ""}, "This field is required."),
    ],
)
def test_bad_form_input_is_shown_and_adds_nothing(admin_client, change, message):
    response = admin_client.post(PAGE, {**FORM, **change})

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not WhatsAppGateway.objects.exists()


def test_check_connection_says_what_is_wrong(admin_client, waha_gateway, mocked_gateway):
    url = reverse("gateways:check", args=[waha_gateway.pk])
    mocked_gateway.get(f"{WAHA_URL}/api/sessions", json=[])
    ok = admin_client.post(url, **HTMX).content.decode()
    mocked_gateway.replace(
        "GET", f"{WAHA_URL}/api/sessions", status=401, json=load_payload("../waha/unauthorized")
    )
    wrong_key = admin_client.post(url, **HTMX).content.decode()
    mocked_gateway.replace(
        "GET",
        f"{WAHA_URL}/api/sessions",
        body=requests.exceptions.ConnectionError("[Errno 111] Connection refused"),
    )
    unreachable = admin_client.post(url, **HTMX).content.decode()

    assert 'data-check-problem="ok"' in ok and "the connection works" in ok
    assert 'data-check-problem="wrong_key"' in wrong_key and "refused the API key" in wrong_key
    assert 'data-check-problem="unreachable"' in unreachable and "unreachable" in unreachable
    assert WAHA_KEY not in ok + wrong_key + unreachable


def test_removing_a_used_gateway_is_refused_with_a_message(
    admin_client, organization, waha_gateway
):
    WhatsAppSession.objects.create(
        organization=organization, gateway=waha_gateway, session_id="wa_x", status="connected"
    )

    response = admin_client.post(reverse("gateways:remove", args=[waha_gateway.pk]), follow=True)

    assert "cannot be removed: 1 session(s) belong to it" in response.content.decode()
    assert WhatsAppGateway.objects.filter(pk=waha_gateway.pk).exists()


def test_removing_an_unused_gateway(admin_client, waha_gateway):
    response = admin_client.post(reverse("gateways:remove", args=[waha_gateway.pk]), follow=True)

    assert "was removed" in response.content.decode()
    assert not WhatsAppGateway.objects.exists()


def test_another_organizations_gateway_is_404_on_the_page(
    admin_client, other_gateway, mocked_gateway
):
    check = admin_client.post(reverse("gateways:check", args=[other_gateway.pk]), **HTMX)
    remove = admin_client.post(reverse("gateways:remove", args=[other_gateway.pk]))

    assert (check.status_code, remove.status_code) == (404, 404)
    assert WhatsAppGateway.objects.filter(pk=other_gateway.pk).exists()
    assert "Theirs" not in admin_client.get(PAGE).content.decode()
    assert len(mocked_gateway.calls) == 0


# --- the connect form ---------------------------------------------------------------------------
def test_the_connect_form_offers_the_gateways(admin_client, waha_gateway, other_gateway):
    html = admin_client.get(reverse("sessions:page")).content.decode()

    assert 'name="gateway"' in html
    assert f'value="{waha_gateway.pk}"' in html
    assert f'value="{other_gateway.pk}"' not in html


def test_connecting_a_number_on_a_gateway(admin_client, waha_gateway, mocked_gateway):
    mocked_gateway.post(
        f"{WAHA_URL}/api/sessions", status=201, json=load_payload("../waha/session_created")
    )

    admin_client.post(reverse("sessions:create"), {"name": "Berlin", "gateway": waha_gateway.pk})

    session = WhatsAppSession.objects.get(name="Berlin")
    assert session.gateway == waha_gateway
    assert mocked_gateway.calls[0].request.url == f"{WAHA_URL}/api/sessions"


def test_connecting_on_another_organizations_gateway_is_refused(
    admin_client, other_gateway, mocked_gateway
):
    response = admin_client.post(
        reverse("sessions:create"), {"name": "Sneaky", "gateway": other_gateway.pk}, follow=True
    )

    assert "No such gateway" in response.content.decode()
    assert not WhatsAppSession.objects.filter(name="Sneaky").exists()
    assert len(mocked_gateway.calls) == 0
