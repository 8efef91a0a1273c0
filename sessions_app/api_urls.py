from __future__ import annotations

from django.urls import re_path

from sessions_app import apis

app_name = "sessions-api"

# Paths accept a missing trailing slash (INTERFACE.md §5–§6).
urlpatterns = [
    re_path(r"^sessions/?$", apis.SessionCollectionApi.as_view(), name="session-list"),
    re_path(
        r"^sessions/(?P<pk>[0-9a-fA-F-]{36})/?$",
        apis.SessionDetailApi.as_view(),
        name="session-detail",
    ),
    re_path(
        r"^sessions/(?P<pk>[0-9a-fA-F-]{36})/verify/?$",
        apis.SessionVerifyApi.as_view(),
        name="session-verify",
    ),
    re_path(
        r"^webhooks/whatsapp/status/?$",
        apis.SessionStatusWebhookApi.as_view(),
        name="webhook-status",
    ),
]
