"""The organization's time zone: set by owners on the team page, active on every page, named in
the footer; the JSON API keeps UTC. Also the base layout's favicon."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from campaigns_app.models import ScheduledWhatsAppMessage
from sessions_app.models import WhatsAppSession
from tests import factories
from whatsapp_crm.errors import ApplicationError
from whatsapp_crm.home import sends_today
from whatsapp_crm.models import Organization
from whatsapp_crm.timezones import organization_set_time_zone

P = "4915123456789"


def test_a_new_organization_uses_the_default_time_zone(db):
    organization = factories.organization_create(name="New")

    assert organization.time_zone == settings.TIME_ZONE


def test_an_owner_sets_the_time_zone_on_the_team_page(client, organization):
    owner = factories.user_create(organization=organization, username="owner")  # an owner
    client.force_login(owner)

    response = client.post(reverse("team:time-zone"), {"time_zone": "Europe/Berlin"})

    assert response.status_code == 302
    organization.refresh_from_db()
    assert organization.time_zone == "Europe/Berlin"
    page = client.get(reverse("team:page")).content.decode()
    assert '<option value="Europe/Berlin" selected>' in page
    assert "Times are shown in Europe/Berlin" in page


@pytest.mark.parametrize("value", ["Mars/Olympus", "", "Europe/Berlin\x00", "x" * 500, "../etc"])
def test_an_unknown_time_zone_is_refused_and_nothing_changes(client, organization, value):
    owner = factories.user_create(organization=organization, username="owner")  # an owner
    client.force_login(owner)

    response = client.post(reverse("team:time-zone"), {"time_zone": value})

    assert response.status_code == 400
    assert 'class="error-text"' in response.content.decode()
    organization.refresh_from_db()
    assert organization.time_zone == settings.TIME_ZONE


def test_only_owners_set_the_time_zone(member_client, organization):
    response = member_client.post(reverse("team:time-zone"), {"time_zone": "Europe/Berlin"})

    assert response.status_code == 403
    organization.refresh_from_db()
    assert organization.time_zone == settings.TIME_ZONE


def test_the_service_and_the_model_validate_the_name(organization):
    with pytest.raises(ApplicationError):
        organization_set_time_zone(organization=organization, time_zone="Nowhere/Land")
    organization.time_zone = "Nowhere/Land"
    with pytest.raises(ValidationError):
        organization.full_clean()
    assert Organization.objects.get(pk=organization.pk).time_zone == settings.TIME_ZONE


def test_pages_show_times_in_the_organizations_zone(logged_in_client, organization):
    organization_set_time_zone(organization=organization, time_zone="America/New_York")
    at = datetime(2026, 1, 15, 12, 0, tzinfo=ZoneInfo("UTC"))
    session = factories.session_create(organization=organization, name="Main", phone_number=P)
    WhatsAppSession.objects.filter(pk=session.pk).update(created_at=at)

    html = logged_in_client.get("/settings/whatsapp/").content.decode()

    assert "2026-01-15 07:00" in html  # 12:00 UTC is 07:00 in New York in January
    assert "Times are shown in America/New_York (EST)" in html


def test_the_api_keeps_utc(api_client, organization):
    organization_set_time_zone(organization=organization, time_zone="Asia/Tokyo")
    factories.session_create(organization=organization)

    body = api_client.get("/api/sessions/").json()
    rows = body["results"] if isinstance(body, dict) else body

    assert rows[0]["created_at"].endswith("Z")


def test_today_begins_at_the_organizations_midnight(organization, gateway_session):
    zone = ZoneInfo("Pacific/Auckland")
    organization_set_time_zone(organization=organization, time_zone="Pacific/Auckland")
    now = timezone.now()
    local_midnight = datetime.combine(now.astimezone(zone).date(), datetime.min.time(), zone)
    for sent_at in (local_midnight + timedelta(minutes=1), local_midnight - timedelta(minutes=1)):
        ScheduledWhatsAppMessage.objects.create(
            organization=organization,
            session=gateway_session,
            recipient_jid="120363000000000001@g.us",
            message="hi",
            status=ScheduledWhatsAppMessage.Status.SENT,
            sent_at=sent_at,
        )

    with timezone.override(zone):
        counts = sends_today(organization=organization, now=now)

    assert counts.since == local_midnight
    assert counts.sent == 1


def test_the_favicon_is_served(client, db):
    response = client.get("/favicon.ico")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_the_layout_links_the_icon(logged_in_client):
    html = logged_in_client.get("/").content.decode()

    assert 'rel="icon" href="/static/whatsapp_crm/favicon.svg"' in html
    assert finders.find("whatsapp_crm/favicon.svg")
