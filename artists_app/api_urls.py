from __future__ import annotations

app_name = "artists-api"

urlpatterns: list = []
