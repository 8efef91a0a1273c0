from __future__ import annotations

from django.apps import AppConfig


class ArtistsConfig(AppConfig):
    name = "artists_app"
    verbose_name = "Artists and member cache"
