from __future__ import annotations

import pytest
from django.urls import reverse

from groups_app.models import WhatsAppGroup
from tests import factories


@pytest.fixture
def admin_client_for(client, organization, django_user_model):
    admin_user = django_user_model.objects.create_superuser("root", "root@example.com", "pw-123456")
    client.force_login(admin_user)
    return client


def test_it_syncs_groups_of_the_selected_sessions_from_the_sessions_admin(
    admin_client_for, organization, gateway_simulator
):
    session = factories.session_create(organization=organization, session_id="wa_demo_admin")
    response = admin_client_for.post(
        reverse("admin:sessions_app_whatsappsession_changelist"),
        {"action": "sync_groups_action", "_selected_action": [str(session.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    assert "saved 28 groups" in response.content.decode()
    assert WhatsAppGroup.objects.filter(session=session, is_active=True).count() == 28


def test_it_lists_sessions_with_status_phone_and_last_error(admin_client_for, organization):
    factories.session_create(
        organization=organization,
        phone_number="4915100000001",
        last_error="Logged out on the phone",
    )
    response = admin_client_for.get(
        reverse("admin:sessions_app_whatsappsession_changelist") + "?q=4915100000001"
    )
    body = response.content.decode()
    assert "4915100000001" in body
    assert "Logged out on the phone" in body
