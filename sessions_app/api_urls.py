from __future__ import annotations

app_name = "sessions-api"

urlpatterns: list = []
