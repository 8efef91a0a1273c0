from __future__ import annotations

from django.urls import re_path

from campaigns_app import apis

app_name = "campaigns-api"

UUID = r"(?P<pk>[0-9a-fA-F-]{36})"

# Paths accept a missing trailing slash (INTERFACE.md §5–§6).
urlpatterns = [
    re_path(
        r"^scheduled-messages/?$",
        apis.ScheduledMessageCollectionApi.as_view(),
        name="scheduled-message-list",
    ),
    re_path(
        rf"^scheduled-messages/{UUID}/?$",
        apis.ScheduledMessageDetailApi.as_view(),
        name="scheduled-message-detail",
    ),
    re_path(r"^campaigns/?$", apis.CampaignCollectionApi.as_view(), name="campaign-list"),
    re_path(rf"^campaigns/{UUID}/?$", apis.CampaignDetailApi.as_view(), name="campaign-detail"),
    re_path(
        rf"^campaigns/{UUID}/retry-failed/?$",
        apis.CampaignRetryFailedApi.as_view(),
        name="campaign-retry-failed",
    ),
    re_path(
        r"^webhooks/whatsapp/message-error/?$",
        apis.MessageErrorWebhookApi.as_view(),
        name="webhook-message-error",
    ),
]
