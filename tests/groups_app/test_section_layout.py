"""The groups section of a session card: collapsed behind its count, Sync only where it can work."""

from __future__ import annotations

import pytest
from django.urls import reverse

from groups_app.models import WhatsAppGroup
from sessions_app.models import WhatsAppSession
from tests import factories

HTMX = {"HTTP_HX_REQUEST": "true"}


def section(client, session) -> str:
    response = client.get(reverse("groups:section", kwargs={"session_id": session.pk}), **HTMX)
    assert response.status_code == 200
    return response.content.decode()


def add_groups(session, n: int) -> None:
    for i in range(n):
        WhatsAppGroup.objects.create(
            organization=session.organization,
            session=session,
            group_jid=f"1203630000000000{i:02d}@g.us",
            group_name=f"Fan Club {i}",
        )


def test_the_groups_are_collapsed_behind_their_count(logged_in_client, gateway_session):
    add_groups(gateway_session, 3)

    html = section(logged_in_client, gateway_session)

    assert 'aria-expanded="false"' in html
    assert f'id="groups-panel-{gateway_session.pk}" hidden' in html
    assert 'Groups <span class="count-pill">3</span>' in html
    assert html.count("<tr data-group-jid=") == 3  # there, for the filter and the toggle
    assert 'type="search"' in html


def test_a_search_opens_the_panel(logged_in_client, gateway_session):
    add_groups(gateway_session, 3)
    url = reverse("groups:section", kwargs={"session_id": gateway_session.pk})

    html = logged_in_client.get(url, {"q": "Fan Club 1"}, **HTMX).content.decode()

    assert 'aria-expanded="true"' in html
    assert f'id="groups-panel-{gateway_session.pk}" hidden' not in html


@pytest.mark.parametrize(
    "status", [WhatsAppSession.Status.DISCONNECTED, WhatsAppSession.Status.CONNECTING]
)
def test_sync_is_not_offered_on_a_session_that_is_not_connected(
    logged_in_client, organization, status
):
    session = factories.session_create(organization=organization, status=status)

    html = section(logged_in_client, session)

    assert "Sync Groups</button>" not in html.replace("\n", "").replace("  ", "")
    assert 'data-action="sync-groups"' not in html
    assert "Sync Groups needs a connected session." in html


def test_sync_is_offered_on_a_connected_session(logged_in_client, gateway_session):
    html = section(logged_in_client, gateway_session)

    assert 'data-action="sync-groups"' in html
    assert "Sync Groups needs a connected session." not in html
