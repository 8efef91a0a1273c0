from __future__ import annotations

import pytest

from groups_app.models import WhatsAppGroup
from groups_app.tasks import group_sync_task
from whatsapp_crm.gateway import GatewayError


def test_it_syncs_a_session_by_id(gateway_session, serve_groups):
    serve_groups(gateway_session, "groups")

    result = group_sync_task(str(gateway_session.pk))

    assert result["success"] is True
    assert result["saved_count"] == 6
    assert WhatsAppGroup.objects.filter(session=gateway_session).count() == 6


def test_it_fails_the_task_when_the_gateway_fails(gateway_session, serve_groups):
    serve_groups(gateway_session, None, status=500, json={"error": "boom"})

    with pytest.raises(GatewayError):
        group_sync_task.apply(args=[str(gateway_session.pk)]).get()

    assert not WhatsAppGroup.objects.exists()
