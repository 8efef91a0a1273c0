from __future__ import annotations

app_name = "groups-api"

urlpatterns: list = []
