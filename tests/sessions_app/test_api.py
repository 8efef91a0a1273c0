"""Staff JSON API for sessions (INTERFACE.md §6)."""

from __future__ import annotations

from sessions_app.models import WhatsAppSession
from tests import factories

Status = WhatsAppSession.Status
P = "4915123456789"


def test_it_lists_the_organizations_sessions_newest_first(
    api_client, organization, other_organization
):
    older = factories.session_create(organization=organization, name="older")
    newer = factories.session_create(organization=organization, name="newer")
    factories.session_create(organization=other_organization, name="foreign")

    response = api_client.get("/api/sessions/")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [row["id"] for row in body["results"]] == [str(newer.id), str(older.id)]
    assert set(body["results"][0]) >= {
        "id",
        "session_id",
        "name",
        "status",
        "phone_number",
        "last_error",
        "last_error_at",
        "created_at",
    }


def test_it_accepts_the_list_path_without_trailing_slash(api_client, gateway_session):
    assert api_client.get("/api/sessions").status_code == 200


def test_it_creates_a_session(api_client, gateway, organization):
    gateway.create()

    response = api_client.post("/api/sessions/", {"name": "Booking line"}, format="json")

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "connecting"
    assert body["name"] == "Booking line"
    assert body["session_id"].startswith("wa_")
    assert body["phone_number"] is None
    session = WhatsAppSession.objects.get(pk=body["id"])
    assert session.organization == organization


def test_it_creates_a_session_without_a_name(api_client, gateway):
    gateway.create()

    response = api_client.post("/api/sessions/", {}, format="json")

    assert response.status_code == 201
    assert response.json()["name"] == ""


def test_it_answers_502_and_stores_nothing_when_the_gateway_is_down(api_client, gateway):
    gateway.create_unreachable()

    response = api_client.post("/api/sessions/", {}, format="json")

    assert response.status_code == 502
    body = response.json()
    assert body["success"] is False
    assert body["upstream"] == "vps"
    assert body["code"] == "unreachable"
    assert "unreachable" in body["error"].lower()
    assert not WhatsAppSession.objects.exists()


def test_it_refuses_a_too_long_name(api_client, gateway):
    response = api_client.post("/api/sessions/", {"name": "x" * 101}, format="json")

    assert response.status_code == 400
    assert "name" in response.json()["details"]
    assert gateway.calls() == []


def test_it_shows_one_session(api_client, gateway_session):
    response = api_client.get(f"/api/sessions/{gateway_session.id}/")

    assert response.status_code == 200
    assert response.json()["session_id"] == gateway_session.session_id


def test_it_verifies_a_stale_connected_session(api_client, gateway, gateway_session):
    gateway.status(gateway_session.session_id, "disconnected", error="Logged out on the phone")

    response = api_client.post(f"/api/sessions/{gateway_session.id}/verify/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == str(gateway_session.id)
    assert body["status"] == "disconnected"
    assert body["vps_status"] == "disconnected"
    assert body["last_error"] == "Logged out on the phone"
    assert body["last_error_at"] is not None


def test_it_verifies_without_trailing_slash(api_client, gateway, gateway_session):
    gateway.status(gateway_session.session_id, "connected", phone=P)

    response = api_client.post(f"/api/sessions/{gateway_session.id}/verify")

    assert response.status_code == 200
    assert response.json()["vps_status"] == "connected"


def test_it_answers_502_unreachable_and_changes_nothing(api_client, gateway, gateway_session):
    gateway.status_unreachable(gateway_session.session_id)
    before = WhatsAppSession.objects.values().get(pk=gateway_session.pk)

    response = api_client.post(f"/api/sessions/{gateway_session.id}/verify/")

    assert response.status_code == 502
    body = response.json()
    assert body["vps_status"] == "unreachable"
    assert body["status"] == "connected"
    assert body["success"] is False
    assert body["error"]
    assert WhatsAppSession.objects.values().get(pk=gateway_session.pk) == before


def test_it_hides_another_organizations_session(other_api_client, gateway, gateway_session):
    for response in (
        other_api_client.get(f"/api/sessions/{gateway_session.id}/"),
        other_api_client.post(f"/api/sessions/{gateway_session.id}/verify/"),
    ):
        assert response.status_code == 404
    assert other_api_client.get("/api/sessions/").json()["count"] == 0
    assert gateway.calls() == []


def test_it_answers_404_for_a_malformed_id(api_client):
    response = api_client.get("/api/sessions/------------------------------------/")

    assert response.status_code == 404


def test_it_requires_authentication(client, gateway_session):
    response = client.get("/api/sessions/")

    assert response.status_code in (401, 403)
