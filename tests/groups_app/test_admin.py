from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.urls import reverse

from groups_app.admin import sync_groups_action
from groups_app.models import WhatsAppGroup
from sessions_app.models import WhatsAppSession
from tests import factories


@pytest.fixture
def superuser_client(client, db):
    admin = factories.user_create(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def changelist() -> str:
    return reverse("admin:groups_app_whatsappgroup_changelist")


def test_it_lists_filters_and_searches_groups(superuser_client, gateway_session):
    WhatsAppGroup.objects.create(
        organization=gateway_session.organization,
        session=gateway_session,
        group_jid="120363000000000003@g.us",
        group_name="Tour Crew 2026",
    )

    listing = superuser_client.get(changelist(), {"q": "tour", "is_active__exact": "1"})
    filtered = superuser_client.get(changelist(), {"is_community__exact": "1"})

    assert listing.status_code == 200
    assert "120363000000000003@g.us" in listing.content.decode()
    assert "120363000000000003@g.us" not in filtered.content.decode()


def test_it_syncs_the_sessions_of_the_selected_groups(
    superuser_client, gateway_session, serve_groups
):
    serve_groups(gateway_session, "groups")
    seed = WhatsAppGroup.objects.create(
        organization=gateway_session.organization,
        session=gateway_session,
        group_jid="120363000000000003@g.us",
        group_name="Old name",
    )

    response = superuser_client.post(
        changelist(),
        {"action": "sync_groups_of_sessions", "_selected_action": [str(seed.pk)]},
        follow=True,
    )

    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("saved 6 groups" in t and "2 community parents skipped" in t for t in texts)
    seed.refresh_from_db()
    assert seed.group_name == "Tour Crew 2026"


def test_it_reports_a_failed_sync_in_the_admin(rf, gateway_session, serve_groups):
    serve_groups(gateway_session, None, status=503, json={"error": "Session not connected"})
    request = rf.post("/admin/")
    request.session = {}
    request._messages = FallbackStorage(request)

    sync_groups_action(site._registry[WhatsAppGroup], request, WhatsAppSession.objects.all())

    [message] = [str(m) for m in request._messages]
    assert "sync failed (gateway, code not_connected)" in message
    assert not WhatsAppGroup.objects.exists()


def test_it_purges_community_parents_among_the_selected(superuser_client, gateway_session):
    parent = WhatsAppGroup.objects.create(
        organization=gateway_session.organization,
        session=gateway_session,
        group_jid="120363000000000001@g.us",
        group_name="Nova Lights Community",
        is_community=True,
    )
    normal = WhatsAppGroup.objects.create(
        organization=gateway_session.organization,
        session=gateway_session,
        group_jid="120363000000000003@g.us",
        group_name="Tour Crew 2026",
    )

    superuser_client.post(
        changelist(),
        {"action": "purge_community_parents", "_selected_action": [str(parent.pk), str(normal.pk)]},
    )

    assert list(WhatsAppGroup.objects.values_list("pk", flat=True)) == [normal.pk]
