"""Shared fixtures. Data tests use the real database (Postgres in CI); only HTTP is mocked."""

from __future__ import annotations

import os
import shutil

import pytest
import responses
from django.conf import settings as django_settings
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests import factories

CHROMIUM = "/usr/bin/chromium"


def pytest_collection_modifyitems(config, items):
    is_postgres = django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    has_browser = os.path.exists(CHROMIUM) and shutil.which("chromium") is not None
    try:
        import playwright  # noqa: F401
    except ImportError:
        has_browser = False
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL=postgres://… (CI does)")
    skip_browser = pytest.mark.skip(
        reason=f"needs Debian's Chromium at {CHROMIUM} and playwright (apt-get install chromium)"
    )
    for item in items:
        if "postgres" in item.keywords and not is_postgres:
            item.add_marker(skip_pg)
        if "browser" in item.keywords and not has_browser:
            item.add_marker(skip_browser)


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def organization(db):
    return factories.organization_create(name="Acme Music")


@pytest.fixture
def other_organization(db):
    return factories.organization_create(name="Other Org")


@pytest.fixture
def user(organization):
    return factories.user_create(organization=organization, username="alice")


@pytest.fixture
def other_user(other_organization):
    return factories.user_create(organization=other_organization, username="mallory")


@pytest.fixture
def logged_in_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def api_client(user) -> APIClient:
    """Staff API client authenticated with a DRF token, as scripts use it."""
    token, _ = Token.objects.get_or_create(user=user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api


@pytest.fixture
def other_api_client(other_user) -> APIClient:
    token, _ = Token.objects.get_or_create(user=other_user)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api


def _user_with_role(organization, username: str, role: str):
    from whatsapp_crm.models import OrganizationMember

    user = factories.user_create(organization=organization, username=username)
    OrganizationMember.objects.filter(user=user).update(role=role)
    return user


@pytest.fixture
def member(organization):
    """A user of the organization with the `member` role (reads, creates messages/campaigns)."""
    return _user_with_role(organization, "mia-member", "member")


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


@pytest.fixture
def member_api(member) -> APIClient:
    token, _ = Token.objects.get_or_create(user=member)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return api


@pytest.fixture
def admin_role_user(organization):
    """A user of the organization with the `admin` role (not a Django superuser)."""
    return _user_with_role(organization, "ada-admin", "admin")


@pytest.fixture
def webhook_client() -> APIClient:
    """A client that calls webhooks as the gateway does (with the webhook API key)."""
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=django_settings.WEBHOOK_API_KEY)
    return api


@pytest.fixture
def mocked_gateway():
    """HTTP calls answered by `responses` (the only thing the suite mocks); unused
    registrations are fine."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def gateway_session(organization):
    return factories.session_create(organization=organization)


def _start_simulator(settings, **webhooks):
    from gateway_simulator import GatewaySimulator

    sim = GatewaySimulator(
        port=0,
        api_key=settings.GATEWAY_API_KEY,
        whapi_token=settings.WHAPI_TOKEN,
        connect_after=0.5,
        late_error_delay=0.2,
        **webhooks,
    ).start()
    settings.GATEWAY_URL = sim.url
    settings.WHAPI_URL = sim.whapi_url
    return sim


@pytest.fixture
def gateway_simulator(settings):
    """The real gateway simulator on a free port; settings point the clients at it.

    Webhooks are not posted back (no webhook_base); use `live_gateway_simulator` for that.
    """
    sim = _start_simulator(settings)
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def live_gateway_simulator(settings, live_server):
    """The simulator posting its webhooks to the live test server, as in production."""
    sim = _start_simulator(
        settings,
        webhook_base=live_server.url,
        webhook_api_key=settings.WEBHOOK_API_KEY,
        webhook_hmac_secret=settings.WEBHOOK_HMAC_SECRET,
    )
    try:
        yield sim
    finally:
        sim.stop()
