from __future__ import annotations

import pytest
import requests
from django.urls import reverse

from groups_app.models import WhatsAppGroup
from tests import factories
from tests.groups_app.conftest import make_groups, stored
from tests.helpers import load_payload


def sync_url(session, slash: bool = True) -> str:
    url = reverse("groups-api:sync-groups", kwargs={"pk": str(session.pk)})
    return url if slash else url.rstrip("/")


def list_url(session) -> str:
    return reverse("groups-api:list", kwargs={"pk": str(session.pk)})


def test_it_answers_what_was_saved(api_client, gateway_session, serve_groups):
    serve_groups(gateway_session, "groups")

    response = api_client.post(sync_url(gateway_session))

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert (body["vps_count"], body["saved_count"], body["skipped_community_parents"]) == (8, 6, 2)
    assert WhatsAppGroup.objects.filter(session=gateway_session, is_active=True).count() == 6


def test_it_accepts_the_path_without_trailing_slash(api_client, gateway_session, serve_groups):
    serve_groups(gateway_session, "groups")

    response = api_client.post(sync_url(gateway_session, slash=False))

    assert response.status_code == 200
    assert response.json()["saved_count"] == 6


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (
            {"body": requests.exceptions.ConnectionError("[Errno 111] Connection refused")},
            "unreachable",
        ),
        ({"body": requests.exceptions.ReadTimeout()}, "timeout"),
        ({"status": 500, "json": {"error": "internal"}}, "server_error"),
        ({"status": 503, "json": {"error": "Session not connected"}}, "not_connected"),
        ({"status": 200, "body": "<html>not json</html>"}, "bad_response"),
        ({"status": 200, "json": {"chats": []}}, "bad_response"),
    ],
    ids=["unreachable", "timeout", "5xx", "503", "not-json", "no-groups-list"],
)
def test_it_answers_502_upstream_vps_and_changes_nothing(
    answer, code, api_client, gateway_session, serve_groups
):
    serve_groups(gateway_session, "groups")
    api_client.post(sync_url(gateway_session))
    before = stored(gateway_session)
    serve_groups(gateway_session, None, **answer)

    response = api_client.post(sync_url(gateway_session))

    assert response.status_code == 502
    body = response.json()
    assert body["success"] is False
    assert body["upstream"] == "vps"
    assert body["code"] == code
    assert body["error"]
    assert "details" in body
    assert stored(gateway_session) == before


def test_it_answers_500_upstream_db_with_the_sqlstate_and_changes_nothing(
    api_client, gateway_session, serve_groups, failing_trigger
):
    serve_groups(gateway_session, "groups")
    api_client.post(sync_url(gateway_session))
    before = stored(gateway_session)
    payload = load_payload("groups")
    payload["groups"][2]["subject"] = "Renamed"
    serve_groups(gateway_session, payload)
    code = failing_trigger("23505", "duplicate key simulated")

    response = api_client.post(sync_url(gateway_session))

    assert response.status_code == 500
    body = response.json()
    assert body["success"] is False
    assert body["upstream"] == "db"
    assert body["code"] == code  # the SQLSTATE on Postgres
    assert "duplicate key simulated" in body["error"]
    assert body["details"]["groups"] == 6
    assert stored(gateway_session) == before


def test_it_answers_404_for_another_organizations_session(
    other_api_client, gateway_session, serve_groups
):
    serve_groups(gateway_session, "groups")

    sync = other_api_client.post(sync_url(gateway_session))
    listing = other_api_client.get(list_url(gateway_session))

    assert sync.status_code == 404
    assert listing.status_code == 404
    assert sync.json()["success"] is False
    assert not WhatsAppGroup.objects.exists()


def test_it_answers_404_for_an_unknown_or_malformed_id(api_client):
    unknown = api_client.post("/api/sessions/00000000-0000-0000-0000-000000000000/sync-groups/")
    malformed = api_client.post("/api/sessions/------------------------------------/sync-groups/")

    assert unknown.status_code == 404
    assert malformed.status_code == 404


def test_it_refuses_anonymous_callers(client, gateway_session):
    response = client.post(sync_url(gateway_session))

    assert response.status_code in (401, 403)


def test_it_refuses_get_on_sync(api_client, gateway_session):
    response = api_client.get(sync_url(gateway_session))

    assert response.status_code == 405


def test_it_lists_the_sessions_groups_paginated(api_client, gateway_session, serve_groups):
    serve_groups(gateway_session, make_groups(120))
    api_client.post(sync_url(gateway_session))

    first = api_client.get(list_url(gateway_session))
    second = api_client.get(first.json()["next"])

    assert first.status_code == 200
    body = first.json()
    assert body["count"] == 120
    assert len(body["results"]) == 100
    assert len(second.json()["results"]) == 20
    row = body["results"][0]
    assert set(row) == {
        "id",
        "group_jid",
        "group_name",
        "participant_count",
        "is_community",
        "is_community_announce",
        "is_active",
        "synced_at",
    }
    assert row["group_name"] == "Group 00000"


def test_it_filters_the_list(api_client, organization, gateway_session, serve_groups):
    serve_groups(gateway_session, "groups")
    api_client.post(sync_url(gateway_session))
    WhatsAppGroup.objects.filter(group_jid="120363000000000007@g.us").update(is_active=False)
    other_session = factories.session_create(organization=organization)
    serve_groups(other_session, make_groups(2))
    api_client.post(sync_url(other_session))

    active = api_client.get(list_url(gateway_session)).json()
    inactive = api_client.get(list_url(gateway_session), {"active": "false"}).json()
    everything = api_client.get(list_url(gateway_session) + "?active=all").json()
    search = api_client.get(list_url(gateway_session), {"search": "fan club"}).json()
    bad = api_client.get(list_url(gateway_session), {"active": "maybe"})

    assert active["count"] == 5
    assert [r["group_jid"] for r in inactive["results"]] == ["120363000000000007@g.us"]
    assert everything["count"] == 6
    assert [r["group_name"] for r in search["results"]] == ["Fan Club Berlin"]
    assert bad.status_code == 400
