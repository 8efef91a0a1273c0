from __future__ import annotations

from whatsapp_crm.celery import app as celery_app

__all__ = ["celery_app"]
