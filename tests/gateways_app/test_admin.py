"""Django admin for gateways: scoped to the staff user's organization; the API key is write-only
and the webhook secret never shown."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from gateways_app.models import WhatsAppGateway
from tests import factories
from tests.gateways_app.conftest import WAHA_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client, organization):
    user = factories.user_create(organization=organization, username="root")
    user.is_staff = user.is_superuser = True
    user.save()
    client.force_login(user)
    return client


@pytest.fixture
def staff_of_other_org(client, other_organization):
    user = factories.user_create(organization=other_organization, username="staff-b", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="gateways_app"))
    client.force_login(user)
    return client


def test_the_change_page_never_shows_the_key_or_the_secret(superuser_client, waha_gateway):
    for url in (
        "/admin/gateways_app/whatsappgateway/",
        f"/admin/gateways_app/whatsappgateway/{waha_gateway.pk}/change/",
    ):
        html = superuser_client.get(url).content.decode()
        assert "WAHA Berlin" in html
        assert WAHA_KEY not in html and waha_gateway.webhook_secret not in html
        assert "fernet:" not in html


def test_an_empty_key_keeps_the_stored_one_and_a_new_one_replaces_it(
    superuser_client, organization, waha_gateway
):
    url = f"/admin/gateways_app/whatsappgateway/{waha_gateway.pk}/change/"
    form = {
        "organization": organization.pk,
        "name": "WAHA Berlin 2",
        "kind": "waha",
        "base_url": "http://waha.test:3000",
        "new_api_key": "",
    }
    assert superuser_client.post(url, form).status_code == 302
    waha_gateway.refresh_from_db()
    assert (waha_gateway.name, waha_gateway.api_key) == ("WAHA Berlin 2", WAHA_KEY)

    superuser_client.post(url, {**form, "new_api_key": "rotated-key"})
    waha_gateway.refresh_from_db()
    assert waha_gateway.api_key == "rotated-key"


def test_staff_of_another_organization_sees_none_of_them(staff_of_other_org, waha_gateway):
    listing = staff_of_other_org.get("/admin/gateways_app/whatsappgateway/")
    change = staff_of_other_org.get(
        f"/admin/gateways_app/whatsappgateway/{waha_gateway.pk}/change/"
    )

    assert listing.status_code == 200
    assert "WAHA Berlin" not in listing.content.decode()
    assert change.status_code in (302, 404)


def test_a_gateway_used_by_sessions_is_not_deleted_from_admin(
    superuser_client, organization, waha_gateway
):
    from sessions_app.models import WhatsAppSession

    WhatsAppSession.objects.create(
        organization=organization, gateway=waha_gateway, session_id="wa_1"
    )

    superuser_client.post(
        f"/admin/gateways_app/whatsappgateway/{waha_gateway.pk}/delete/", {"post": "yes"}
    )

    assert WhatsAppGateway.objects.filter(pk=waha_gateway.pk).exists()
