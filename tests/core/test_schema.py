"""The OpenAPI document describes every path of INTERFACE.md §5–§6 and generates without warnings."""

from __future__ import annotations

import pytest
from django.core.management import call_command

EXPECTED_PATHS = {
    "/api/sessions/",
    "/api/sessions/{id}/verify/",
    "/api/sessions/{id}/sync-groups/",
    "/api/sessions/{id}/groups/",
    "/api/scheduled-messages/",
    "/api/scheduled-messages/{id}/",
    "/api/campaigns/",
    "/api/campaigns/{id}/",
    "/api/artists/",
    "/api/artists/{id}/",
    "/api/lookup-whatsapp-groups/",
    "/api/sync-whatsapp-group-members/",
    "/api/tasks/{task_id}/",
    "/api/webhooks/whatsapp/status/",
    "/api/webhooks/whatsapp/message-error/",
    "/api/gateways/",
    "/api/gateways/{id}/",
    "/api/gateways/{id}/check/",
    "/api/webhooks/waha/",
    "/api/webhooks/waha/{gateway_id}/",
    "/api/webhooks/evolution/",
    "/api/webhooks/evolution/{gateway_id}/",
}


def test_it_generates_a_valid_schema_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"
    # --fail-on-warn turns any unguessable view or name collision into an error.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert out.stat().st_size > 1000


@pytest.mark.django_db
def test_it_serves_every_public_path(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = set(response.json()["paths"])
    missing = EXPECTED_PATHS - paths
    assert not missing, f"missing from the OpenAPI document: {sorted(missing)}"
