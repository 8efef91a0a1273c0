"""JSON API: /api/scheduled-messages/ and /api/campaigns/ (INTERFACE.md §6)."""

from __future__ import annotations

import pytest

from campaigns_app.models import (
    NotificationCampaign,
    NotificationCampaignGroup,
    ScheduledWhatsAppMessage,
)
from tests import factories
from tests.campaigns_app.conftest import group_create

pytestmark = pytest.mark.django_db


def test_it_creates_a_scheduled_message(api_client, gateway_session):
    response = api_client.post(
        "/api/scheduled-messages/",
        {
            "session": str(gateway_session.id),
            "recipient_jid": "120363025246125486@g.us",
            "message": "Doors open at 7",
            "scheduled_for": "2031-05-01T18:00:00Z",
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    row = ScheduledWhatsAppMessage.objects.get(id=body["id"])
    assert body["status"] == "pending"
    assert body["session"] == body["session_id"] == str(gateway_session.id)
    assert body["recipient_jid"] == "120363025246125486@g.us"
    assert body["scheduled_for"] == "2031-05-01T18:00:00Z"
    for column in ("retry_count", "error_message", "vps_error", "message_id", "sent_at"):
        assert column in body
    assert row.next_attempt_at == row.scheduled_for


def test_it_reads_a_scheduled_message_without_a_trailing_slash(api_client, gateway_session):
    created = api_client.post(
        "/api/scheduled-messages",
        {"session": str(gateway_session.id), "recipient_jid": "1@g.us", "message": "Hi"},
        format="json",
    )
    assert created.status_code == 201

    response = api_client.get(f"/api/scheduled-messages/{created.json()['id']}")

    assert response.status_code == 200
    assert response.json()["id"] == created.json()["id"]


def test_it_refuses_a_recipient_that_is_no_jid(api_client, gateway_session):
    response = api_client.post(
        "/api/scheduled-messages/",
        {"session": str(gateway_session.id), "recipient_jid": "+49 151 123", "message": "Hi"},
        format="json",
    )
    assert response.status_code == 400
    assert "JID" in response.json()["error"]


def test_it_hides_other_organizations_rows(api_client, other_api_client, gateway_session):
    created = api_client.post(
        "/api/scheduled-messages/",
        {"session": str(gateway_session.id), "recipient_jid": "1@g.us", "message": "Hi"},
        format="json",
    ).json()

    assert other_api_client.get(f"/api/scheduled-messages/{created['id']}/").status_code == 404
    # Another organization's session in the body is unknown too.
    response = other_api_client.post(
        "/api/scheduled-messages/",
        {"session": str(gateway_session.id), "recipient_jid": "1@g.us", "message": "Hi"},
        format="json",
    )
    assert response.status_code == 404


def test_it_lists_scheduled_messages_by_status(api_client, gateway_session):
    for _ in range(2):
        api_client.post(
            "/api/scheduled-messages/",
            {"session": str(gateway_session.id), "recipient_jid": "1@g.us", "message": "Hi"},
            format="json",
        )
    assert api_client.get("/api/scheduled-messages/?status=pending").json()["count"] == 2
    assert api_client.get("/api/scheduled-messages/?status=sent").json()["count"] == 0


def test_it_creates_a_campaign_with_its_groups(api_client, organization, gateway_session, groups):
    response = api_client.post(
        "/api/campaigns/",
        {
            "session": str(gateway_session.id),
            "name": "Tour news",
            "message": "New dates!",
            "group_ids": [str(g.id) for g in groups[:3]],
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["total_groups"], body["sent_count"], body["failed_count"]) == (
        "sending",
        3,
        0,
        0,
    )
    assert len(body["groups"]) == 3
    assert set(body["groups"][0]) >= {
        "id",
        "campaign_id",
        "group_id",
        "group_jid",
        "status",
        "message_id",
        "error_message",
        "sent_at",
    }
    detail = api_client.get(f"/api/campaigns/{body['id']}")
    assert detail.status_code == 200
    assert {g["group_id"] for g in detail.json()["groups"]} == {str(g.id) for g in groups[:3]}


def test_it_refuses_a_campaign_to_a_community_parent(
    api_client, gateway_session, groups, community_parent
):
    response = api_client.post(
        "/api/campaigns/",
        {
            "session": str(gateway_session.id),
            "name": "Oops",
            "message": "Hi",
            "group_ids": [str(groups[0].id), str(community_parent.id)],
        },
        format="json",
    )

    assert response.status_code == 400
    body = response.json()
    assert "Community parent groups cannot receive messages" in body["error"]
    assert body["details"]["community_parents"] == [str(community_parent.id)]
    assert not NotificationCampaign.objects.exists()


def test_it_refuses_groups_of_another_organization(
    api_client, other_organization, gateway_session, groups
):
    stranger = factories.session_create(organization=other_organization)
    foreign = group_create(organization=other_organization, session=stranger)

    response = api_client.post(
        "/api/campaigns/",
        {
            "session": str(gateway_session.id),
            "name": "x",
            "message": "Hi",
            "group_ids": [str(foreign.id)],
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["details"]["group_ids"] == [str(foreign.id)]


def test_it_hides_other_organizations_campaigns(
    api_client, other_api_client, gateway_session, groups
):
    created = api_client.post(
        "/api/campaigns/",
        {
            "session": str(gateway_session.id),
            "name": "x",
            "message": "Hi",
            "group_ids": [str(groups[0].id)],
        },
        format="json",
    ).json()

    assert other_api_client.get(f"/api/campaigns/{created['id']}/").status_code == 404
    assert other_api_client.get("/api/campaigns/").json()["count"] == 0
    assert api_client.get("/api/campaigns/").json()["count"] == 1


def test_it_requires_authentication(client, gateway_session):
    assert client.get("/api/campaigns/").status_code in (401, 403)
    assert client.post("/api/scheduled-messages/", {}).status_code in (401, 403)


@pytest.mark.parametrize(
    "url",
    [
        "/api/scheduled-messages/0000/",
        f"/api/scheduled-messages/{'0' * 36}/",
        f"/api/scheduled-messages/{'0' * 36}",
        "/api/campaigns/not-a-uuid/",
        "/api/campaigns/not-a-uuid/retry-failed/",
    ],
)
def test_it_answers_404_for_a_malformed_id(api_client, url):
    """The `<uuid:pk>` converter refuses it before any query (Postgres answered 500)."""
    response = api_client.post(url) if url.endswith("retry-failed/") else api_client.get(url)

    assert response.status_code == 404


def test_it_answers_404_for_an_unknown_well_formed_id(api_client):
    response = api_client.get("/api/scheduled-messages/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404
    assert response.json()["success"] is False


def written() -> tuple[int, int, int]:
    return (
        NotificationCampaign.objects.count(),
        NotificationCampaignGroup.objects.count(),
        ScheduledWhatsAppMessage.objects.count(),
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("message", "Hello\x00fans"),
        ("message", "x" * 4097),
        ("recipient_jid", "1" * 96 + "@g.us"),
        ("session", "not-a-uuid"),
    ],
    ids=["nul-message", "long-message", "long-jid", "bad-session"],
)
def test_it_refuses_the_inputs_the_queue_page_refuses(api_client, gateway_session, field, value):
    data = {"session": str(gateway_session.id), "recipient_jid": "1@g.us", "message": "Hi"}
    data[field] = value

    response = api_client.post("/api/scheduled-messages/", data, format="json")

    assert response.status_code == 400
    assert field in response.json()["details"]
    assert written() == (0, 0, 0)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("group_ids", ["not-a-uuid"]),
        ("name", "Tour\x00news"),
        ("name", "n" * 201),
        ("message", "New\x00dates"),
    ],
    ids=["bad-group-id", "nul-name", "long-name", "nul-message"],
)
def test_it_refuses_the_inputs_the_campaign_page_refuses(
    api_client, gateway_session, groups, field, value
):
    data = {
        "session": str(gateway_session.id),
        "name": "Tour",
        "message": "Hi",
        "group_ids": [str(groups[0].id)],
    }
    data[field] = value

    response = api_client.post("/api/campaigns/", data, format="json")

    assert response.status_code == 400
    assert field in response.json()["details"]
    assert written() == (0, 0, 0)


def test_it_pages_the_lists(api_client, organization, gateway_session):
    for n in range(3):
        ScheduledWhatsAppMessage.objects.create(
            organization=organization, session=gateway_session, recipient_jid=f"{n}@g.us"
        )

    body = api_client.get("/api/scheduled-messages/").json()

    assert (body["count"], body["next"], body["previous"], len(body["results"])) == (
        3,
        None,
        None,
        3,
    )
    assert api_client.get("/api/campaigns/").json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }
