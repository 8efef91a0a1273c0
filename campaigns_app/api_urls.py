from __future__ import annotations

from campaigns_app import apis
from whatsapp_crm.api import api_path

app_name = "campaigns-api"

# Paths accept a missing trailing slash (INTERFACE.md §5–§6); a malformed id is a 404.
urlpatterns = [
    *api_path(
        "scheduled-messages",
        apis.ScheduledMessageCollectionApi.as_view(),
        name="scheduled-message-list",
    ),
    *api_path(
        "scheduled-messages/<uuid:pk>",
        apis.ScheduledMessageDetailApi.as_view(),
        name="scheduled-message-detail",
    ),
    *api_path("campaigns", apis.CampaignCollectionApi.as_view(), name="campaign-list"),
    *api_path("campaigns/<uuid:pk>", apis.CampaignDetailApi.as_view(), name="campaign-detail"),
    *api_path(
        "campaigns/<uuid:pk>/retry-failed",
        apis.CampaignRetryFailedApi.as_view(),
        name="campaign-retry-failed",
    ),
    *api_path(
        "campaigns/<uuid:pk>/cancel", apis.CampaignCancelApi.as_view(), name="campaign-cancel"
    ),
    *api_path(
        "webhooks/whatsapp/message-error",
        apis.MessageErrorWebhookApi.as_view(),
        name="webhook-message-error",
    ),
    *api_path(
        "webhooks/whatsapp/message-ack",
        apis.MessageAckWebhookApi.as_view(),
        name="webhook-message-ack",
    ),
]
