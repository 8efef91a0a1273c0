from __future__ import annotations

from gateways_app import apis, webhook_apis
from whatsapp_crm.api import api_path

app_name = "gateways-api"

# Paths accept a missing trailing slash (INTERFACE.md §5–§7); a malformed id is a 404.
urlpatterns = [
    *api_path("gateways", apis.GatewayCollectionApi.as_view(), name="gateway-list"),
    *api_path("gateways/<uuid:pk>", apis.GatewayDetailApi.as_view(), name="gateway-detail"),
    *api_path("gateways/<uuid:pk>/check", apis.GatewayCheckApi.as_view(), name="gateway-check"),
    *api_path("webhooks/waha", webhook_apis.WahaWebhookApi.as_view(), name="webhook-waha"),
    *api_path(
        "webhooks/waha/<uuid:gateway_id>",
        webhook_apis.WahaGatewayWebhookApi.as_view(),
        name="webhook-waha-gateway",
    ),
    *api_path(
        "webhooks/evolution", webhook_apis.EvolutionWebhookApi.as_view(), name="webhook-evolution"
    ),
    *api_path(
        "webhooks/evolution/<uuid:gateway_id>",
        webhook_apis.EvolutionGatewayWebhookApi.as_view(),
        name="webhook-evolution-gateway",
    ),
]
