from __future__ import annotations

from groups_app import apis
from whatsapp_crm.api import api_path

app_name = "groups-api"

# Paths accept a missing trailing slash (scripts call them both ways); a malformed id is a 404.
urlpatterns = [
    *api_path("sessions/<uuid:pk>/sync-groups", apis.GroupSyncApi.as_view(), name="sync-groups"),
    *api_path("sessions/<uuid:pk>/groups", apis.GroupListApi.as_view(), name="list"),
]
