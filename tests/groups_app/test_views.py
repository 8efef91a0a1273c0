from __future__ import annotations

import json

import pytest
from django.urls import reverse

from groups_app.models import WhatsAppGroup
from tests.groups_app.conftest import make_groups, stored

HTMX = {"HTTP_HX_REQUEST": "true"}


def url(name: str, session) -> str:
    return reverse(f"groups:{name}", kwargs={"session_id": session.pk})


def toasts(response) -> list[dict]:
    return json.loads(response.headers["HX-Trigger"])["showToast"]["toasts"]


def test_it_renders_the_section_with_buttons_filter_and_explanation(
    logged_in_client, gateway_session
):
    WhatsAppGroup.objects.create(
        organization=gateway_session.organization,
        session=gateway_session,
        group_jid="120363000000000002@g.us",
        group_name="Nova Lights Announcements",
        participant_count=805,
        is_community_announce=True,
    )

    response = logged_in_client.get(url("section", gateway_session), **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "Sync Groups" in html
    assert f'hx-post="{url("sync", gateway_session)}"' in html
    assert 'hx-disabled-elt="this"' in html
    assert "Refresh" in html
    assert 'hx-trigger="input changed delay:300ms, search"' in html
    assert "Community parent groups are skipped" in html
    assert "Nova Lights Announcements" in html
    assert "120363000000000002@g.us" in html
    assert '<span class="tag">Announcement</span>' in html
    assert "805" in html
    assert "<html" not in html  # a partial, not a page


def test_it_syncs_and_answers_the_refreshed_section_with_a_toast(
    logged_in_client, gateway_session, serve_groups
):
    serve_groups(gateway_session, "groups")

    response = logged_in_client.post(url("sync", gateway_session), **HTMX)

    assert response.status_code == 200
    assert toasts(response) == [{"message": "Saved 6 groups", "level": "success"}]
    assert "groupsChanged" in json.loads(response.headers["HX-Trigger"])
    html = response.content.decode()
    assert "Tour Crew 2026" in html
    assert "Nova Lights Community" not in html
    assert "2 community parents skipped" in html
    assert "<strong data-active-count>6</strong> active groups" in html


def test_it_warns_when_the_gateway_returned_groups_but_none_were_saved(
    logged_in_client, gateway_session, serve_groups
):
    serve_groups(gateway_session, "groups_all_parents")

    response = logged_in_client.post(url("sync", gateway_session), **HTMX)

    assert response.status_code == 200
    [message] = toasts(response)
    assert message["level"] == "warning"
    assert "returned 2 groups but 0 were saved" in message["message"]
    assert "community parents" in message["message"]


def test_it_shows_the_gateway_error_and_code_with_status_200(
    logged_in_client, gateway_session, serve_groups
):
    serve_groups(gateway_session, "groups")
    logged_in_client.post(url("sync", gateway_session), **HTMX)
    before = stored(gateway_session)
    serve_groups(gateway_session, None, status=503, json={"error": "Session not connected"})

    response = logged_in_client.post(url("sync", gateway_session), **HTMX)

    assert response.status_code == 200
    [message] = toasts(response)
    assert message["level"] == "error"
    assert "Session not connected" in message["message"]
    assert "not_connected" in message["message"]
    assert "groupsChanged" not in json.loads(response.headers["HX-Trigger"])
    html = response.content.decode()
    assert "Group sync failed" in html
    assert "<code>not_connected</code>" in html
    assert "Tour Crew 2026" in html  # the list is still there, unchanged
    assert stored(gateway_session) == before


def test_it_shows_the_database_error_with_its_sqlstate(
    logged_in_client, gateway_session, serve_groups, failing_trigger
):
    serve_groups(gateway_session, "groups")
    code = failing_trigger("23505")

    response = logged_in_client.post(url("sync", gateway_session), **HTMX)

    assert response.status_code == 200
    [message] = toasts(response)
    assert message["level"] == "error"
    assert code in message["message"]
    assert "database" in response.content.decode()
    assert not WhatsAppGroup.objects.exists()


def test_it_filters_the_list_by_name(logged_in_client, gateway_session, serve_groups):
    serve_groups(gateway_session, "groups")
    logged_in_client.post(url("sync", gateway_session), **HTMX)

    response = logged_in_client.get(url("list", gateway_session), {"q": "fan"}, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "Fan Club Berlin" in html
    assert "Tour Crew 2026" not in html
    assert "Sync Groups" not in html  # only the table partial


def test_it_says_when_nothing_matches_the_filter(logged_in_client, gateway_session):
    response = logged_in_client.get(url("list", gateway_session), {"q": "zzz"}, **HTMX)

    assert "No active group matches" in response.content.decode()


def test_it_limits_the_rendered_rows(logged_in_client, gateway_session, serve_groups):
    serve_groups(gateway_session, make_groups(250))
    logged_in_client.post(url("sync", gateway_session), **HTMX)

    html = logged_in_client.get(url("list", gateway_session), **HTMX).content.decode()

    assert html.count("<tr data-group-jid=") == 200
    assert "Showing the first 200" in html
    assert "<strong data-active-count>250</strong>" in html


def test_it_warns_about_stored_community_parents(logged_in_client, gateway_session):
    WhatsAppGroup.objects.create(
        organization=gateway_session.organization,
        session=gateway_session,
        group_jid="120363000000000001@g.us",
        group_name="Nova Lights Community",
        is_community=True,
    )

    html = logged_in_client.get(url("list", gateway_session), **HTMX).content.decode()

    assert "Community parent" in html
    assert "purge_community_parents" in html


@pytest.mark.parametrize(
    ("name", "method"), [("section", "get"), ("list", "get"), ("sync", "post")]
)
def test_it_answers_404_for_another_organizations_session(
    name, method, client, other_user, gateway_session, serve_groups
):
    serve_groups(gateway_session, "groups")
    client.force_login(other_user)

    response = getattr(client, method)(url(name, gateway_session), **HTMX)

    assert response.status_code == 404
    assert not WhatsAppGroup.objects.exists()


def test_it_refuses_get_on_sync(logged_in_client, gateway_session):
    response = logged_in_client.get(url("sync", gateway_session), **HTMX)

    assert response.status_code == 405


def test_it_sends_anonymous_users_to_the_login_page(client, gateway_session):
    response = client.get(url("section", gateway_session))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_it_syncs_the_simulators_demo_session(logged_in_client, organization, gateway_simulator):
    from tests import factories

    session = factories.session_create(organization=organization, session_id="wa_demo_view")

    response = logged_in_client.post(url("sync", session), **HTMX)

    assert toasts(response) == [{"message": "Saved 28 groups", "level": "success"}]
    assert response.content.decode().count("<tr data-group-jid=") == 28


def test_it_keeps_the_filter_after_a_sync(logged_in_client, gateway_session, serve_groups):
    serve_groups(gateway_session, "groups")

    response = logged_in_client.post(url("sync", gateway_session), {"q": "fan"}, **HTMX)

    html = response.content.decode()
    assert 'value="fan"' in html
    assert "Fan Club Berlin" in html
    assert "Tour Crew 2026" not in html
    assert "<strong data-active-count>6</strong>" in html  # the count is of all active groups
