from __future__ import annotations

app_name = "campaigns"

urlpatterns: list = []
