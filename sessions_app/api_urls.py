from __future__ import annotations

from sessions_app import apis
from whatsapp_crm.api import api_path

app_name = "sessions-api"

# Paths accept a missing trailing slash (INTERFACE.md §5–§6); a malformed id is a 404.
urlpatterns = [
    *api_path("sessions", apis.SessionCollectionApi.as_view(), name="session-list"),
    *api_path("sessions/<uuid:pk>", apis.SessionDetailApi.as_view(), name="session-detail"),
    *api_path("sessions/<uuid:pk>/verify", apis.SessionVerifyApi.as_view(), name="session-verify"),
    *api_path(
        "webhooks/whatsapp/status",
        apis.SessionStatusWebhookApi.as_view(),
        name="webhook-status",
    ),
]
