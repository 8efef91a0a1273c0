"""/api/gateways/ (INTERFACE §6): members read, admins add, check and remove; keys are
write-only, the webhook secret is in the creating answer only; another organization's gateway is
a 404; POST /api/sessions/ takes a gateway of the organization."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from gateways_app.models import WhatsAppGateway
from tests.gateways_app.conftest import OTHER_KEY, WAHA_KEY, WAHA_URL
from tests.helpers import load_payload

pytestmark = pytest.mark.django_db

NEW = {
    "name": "WAHA Munich",
    "kind": "waha",
    "base_url": "http://waha-munich.test:3000/",
    "api_key": "munich-secret-key-123",
}


def every_text(response) -> str:
    return json.dumps(response.json()) if response.content else ""


def test_an_admin_adds_a_gateway_and_sees_its_secret_once(admin_api):
    created = admin_api.post("/api/gateways/", NEW, format="json")

    assert created.status_code == 201, created.content
    data = created.json()
    gateway = WhatsAppGateway.objects.get(pk=data["id"])
    assert data["webhook_secret"] == gateway.webhook_secret
    assert data["base_url"] == "http://waha-munich.test:3000"
    assert data["webhook_url"] == f"http://testserver/api/webhooks/waha/{gateway.pk}/"
    assert created["Cache-Control"] == "no-store"
    assert "api_key" not in data and NEW["api_key"] not in every_text(created)

    listed = admin_api.get("/api/gateways/")
    detail = admin_api.get(f"/api/gateways/{gateway.pk}/")
    for answer in (listed, detail):
        assert answer.status_code == 200
        assert NEW["api_key"] not in every_text(answer)
        assert gateway.webhook_secret not in every_text(answer)
    assert detail.json()["session_count"] == 0


def test_a_member_reads_but_cannot_add_check_or_remove(member_api, waha_gateway, mocked_gateway):
    assert member_api.get("/api/gateways/").json()["count"] == 1
    answers = [
        member_api.post("/api/gateways/", NEW, format="json"),
        member_api.post(f"/api/gateways/{waha_gateway.pk}/check/"),
        member_api.delete(f"/api/gateways/{waha_gateway.pk}/"),
    ]
    assert [a.status_code for a in answers] == [403, 403, 403]
    assert all(a.json()["success"] is False for a in answers)
    assert WhatsAppGateway.objects.count() == 1
    assert len(mocked_gateway.calls) == 0


def test_another_organizations_gateway_is_404_everywhere(api_client, other_gateway):
    answers = [
        api_client.get(f"/api/gateways/{other_gateway.pk}/"),
        api_client.post(f"/api/gateways/{other_gateway.pk}/check/"),
        api_client.delete(f"/api/gateways/{other_gateway.pk}/"),
    ]
    assert [a.status_code for a in answers] == [404, 404, 404]
    assert api_client.get("/api/gateways/").json()["count"] == 0
    assert WhatsAppGateway.objects.filter(pk=other_gateway.pk).exists()
    assert OTHER_KEY not in "".join(every_text(a) for a in answers)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "whapi"}, "kind"),
        ({"base_url": "ftp://waha.test"}, "base_url"),
        ({"base_url": "not a url"}, "base_url"),
        ({"api_key": ""}, "api_key"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_is_400_and_adds_nothing(api_client, change, field):
    response = api_client.post("/api/gateways/", {**NEW, **change}, format="json")

    assert response.status_code == 400
    assert field in response.json()["details"]
    assert not WhatsAppGateway.objects.exists()


def test_a_second_gateway_with_the_same_name_is_refused(api_client, waha_gateway):
    response = api_client.post("/api/gateways/", {**NEW, "name": waha_gateway.name}, format="json")

    assert response.status_code == 400
    assert "already exists" in response.json()["error"]


def test_removing_is_refused_while_sessions_use_it(api_client, organization, waha_gateway):
    from sessions_app.models import WhatsAppSession

    WhatsAppSession.objects.create(
        organization=organization, gateway=waha_gateway, session_id="wa_old", status="disconnected"
    )

    refused = api_client.delete(f"/api/gateways/{waha_gateway.pk}/")

    assert refused.status_code == 400
    assert "1 session(s) belong to it" in refused.json()["error"]
    assert WhatsAppGateway.objects.filter(pk=waha_gateway.pk).exists()
    WhatsAppSession.objects.all().delete()
    assert api_client.delete(f"/api/gateways/{waha_gateway.pk}").status_code == 204
    assert not WhatsAppGateway.objects.exists()


def test_check_answers_ok_or_502_with_the_problem(api_client, waha_gateway, mocked_gateway):
    mocked_gateway.get(f"{WAHA_URL}/api/sessions", json=[])
    ok = api_client.post(f"/api/gateways/{waha_gateway.pk}/check/")
    mocked_gateway.replace("GET", f"{WAHA_URL}/api/sessions", status=401, json={"message": "no"})
    refused = api_client.post(f"/api/gateways/{waha_gateway.pk}/check/")

    assert ok.status_code == 200 and ok.json()["ok"] is True
    assert refused.status_code == 502
    assert (refused.json()["ok"], refused.json()["problem"]) == (False, "wrong_key")
    assert WAHA_KEY not in every_text(ok) + every_text(refused)


# --- POST /api/sessions/ with a gateway ---------------------------------------------------------
def test_a_session_is_created_on_the_chosen_gateway(api_client, waha_gateway, mocked_gateway):
    mocked_gateway.post(
        f"{WAHA_URL}/api/sessions", status=201, json=load_payload("../waha/session_created")
    )

    response = api_client.post(
        reverse("sessions-api:session-list"), {"name": "Munich", "gateway": str(waha_gateway.pk)}
    )

    assert response.status_code == 201, response.content
    assert response.json()["gateway"] == str(waha_gateway.pk)
    assert mocked_gateway.calls[0].request.headers["X-Api-Key"] == WAHA_KEY


def test_a_session_on_another_organizations_gateway_is_refused(
    api_client, other_gateway, mocked_gateway
):
    response = api_client.post(
        reverse("sessions-api:session-list"), {"gateway": str(other_gateway.pk)}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["details"]["gateway"] == [
        "No gateway with this id in your organization."
    ]
    assert len(mocked_gateway.calls) == 0


def test_a_session_without_gateway_uses_the_default_one(api_client, mocked_gateway, settings):
    mocked_gateway.post(
        f"{settings.GATEWAY_URL}/sessions", status=201, json={"status": "connecting"}
    )

    response = api_client.post(reverse("sessions-api:session-list"), {}, format="json")

    assert response.status_code == 201
    assert response.json()["gateway"] is None
