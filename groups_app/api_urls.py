from __future__ import annotations

from django.urls import re_path

from groups_app import apis

app_name = "groups-api"

# Paths accept a missing trailing slash (scripts call them both ways).
urlpatterns = [
    re_path(
        r"^sessions/(?P<pk>[0-9a-fA-F-]{36})/sync-groups/?$",
        apis.GroupSyncApi.as_view(),
        name="sync-groups",
    ),
    re_path(
        r"^sessions/(?P<pk>[0-9a-fA-F-]{36})/groups/?$",
        apis.GroupListApi.as_view(),
        name="list",
    ),
]
