from __future__ import annotations

from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    name = "campaigns_app"
    verbose_name = "Campaigns and send queue"
