"""The pages tell the truth during a gateway outage: "Gateway unreachable since 10:02 — N
messages waiting" on the queue page (top banner, kept live by the table's polling) and on the
session card. The mechanism is tested in test_outage.py."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns_app.models import QueueSessionState
from tests import factories
from tests.campaigns_app.conftest import later, message_create

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def outage(gateway_session):
    since = timezone.now() - timedelta(minutes=7)
    QueueSessionState.objects.create(
        session=gateway_session,
        unreachable_since=since,
        paused_until=timezone.now() + timedelta(seconds=30),
        consecutive_failures=3,
    )
    for _ in range(3):
        message_create(session=gateway_session)
    message_create(session=gateway_session, scheduled_for=later())  # not due: not "waiting"
    return f"Gateway unreachable since {timezone.localtime(since):%H:%M} — 3 messages waiting"


def test_the_queue_page_shows_the_outage_at_the_top(logged_in_client, outage):
    page = logged_in_client.get(reverse("campaigns:queue")).text

    assert outage in page
    assert page.index(outage) < page.index('id="queue-table"')
    assert page.count('id="queue-outage"') == 1


def test_the_polled_table_carries_the_banner_out_of_band(logged_in_client, gateway_session, outage):
    table = logged_in_client.get(reverse("campaigns:queue-table"), **HTMX).text
    assert '<div id="queue-outage" hx-swap-oob="true">' in table and outage in table

    QueueSessionState.objects.filter(session=gateway_session).update(unreachable_since=None)
    after = logged_in_client.get(reverse("campaigns:queue-table"), **HTMX).text

    assert '<div id="queue-outage" hx-swap-oob="true">' in after  # swapped in empty
    assert "Gateway unreachable" not in after


def test_the_session_card_shows_the_outage(logged_in_client, outage):
    page = logged_in_client.get("/settings/whatsapp/").text

    assert outage in page and "data-outage" in page


def test_no_banner_while_the_gateway_answers(logged_in_client, gateway_session):
    message_create(session=gateway_session)
    QueueSessionState.objects.create(session=gateway_session, consecutive_failures=1)

    assert "Gateway unreachable since" not in logged_in_client.get(reverse("campaigns:queue")).text
    assert "data-outage" not in logged_in_client.get("/settings/whatsapp/").text


def test_another_organization_does_not_see_the_outage(client, other_organization, outage):
    client.force_login(factories.user_create(organization=other_organization))

    assert "Gateway unreachable since" not in client.get(reverse("campaigns:queue")).text
    assert "Gateway unreachable since" not in client.get("/settings/whatsapp/").text
