from __future__ import annotations

from django.apps import AppConfig


class GatewaysAppConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "gateways_app"
    verbose_name = "Gateways"
