"""Roles on sessions and groups (INTERFACE.md §6): members read and verify; connecting,
reconnecting and logging out numbers and syncing groups need an admin (403, nothing changed)."""

from __future__ import annotations

from groups_app.models import WhatsAppGroup
from sessions_app.models import WhatsAppSession


def test_a_member_cannot_manage_sessions_on_the_page(
    member_client, gateway_session, mocked_gateway
):
    before = WhatsAppSession.objects.count()
    responses = [
        member_client.post(
            "/settings/whatsapp/sessions/new/", {"name": "x"}, HTTP_HX_REQUEST="true"
        ),
        member_client.post(
            f"/settings/whatsapp/sessions/{gateway_session.pk}/reconnect/", HTTP_HX_REQUEST="true"
        ),
        member_client.post(
            f"/settings/whatsapp/sessions/{gateway_session.pk}/logout/", HTTP_HX_REQUEST="true"
        ),
        member_client.post(
            f"/settings/whatsapp/sessions/{gateway_session.pk}/groups/sync/",
            HTTP_HX_REQUEST="true",
        ),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    assert WhatsAppSession.objects.count() == before
    gateway_session.refresh_from_db()
    assert gateway_session.status == WhatsAppSession.Status.CONNECTED
    assert not WhatsAppGroup.objects.exists()
    assert len(mocked_gateway.calls) == 0  # the gateway was never asked


def test_a_member_cannot_manage_sessions_through_the_api(
    member_api, gateway_session, mocked_gateway
):
    create = member_api.post("/api/sessions/", {"name": "x"}, format="json")
    sync = member_api.post(f"/api/sessions/{gateway_session.pk}/sync-groups/")

    assert (create.status_code, sync.status_code) == (403, 403)
    assert create.json()["success"] is False
    assert WhatsAppSession.objects.count() == 1
    assert len(mocked_gateway.calls) == 0


def test_a_member_reads_sessions(member_client, member_api, gateway_session):
    assert member_client.get("/settings/whatsapp/").status_code == 200
    assert member_api.get("/api/sessions/").status_code == 200
    assert member_api.get(f"/api/sessions/{gateway_session.pk}/groups/").status_code == 200


def test_the_page_hides_what_a_member_cannot_do(member_client, gateway_session):
    html = member_client.get("/settings/whatsapp/").content.decode()

    assert "Connect new number" not in html
    assert "Only admins connect or log out numbers." in html
