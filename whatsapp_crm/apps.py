from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "whatsapp_crm"
    verbose_name = "Organizations and core"
