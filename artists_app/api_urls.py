from __future__ import annotations

from django.urls import re_path

from artists_app import apis

app_name = "artists-api"

# Paths accept a missing trailing slash (INTERFACE.md §6).
urlpatterns = [
    re_path(r"^artists/?$", apis.ArtistCollectionApi.as_view(), name="artist-list"),
    re_path(
        r"^artists/(?P<pk>[0-9a-fA-F-]{36})/?$",
        apis.ArtistDetailApi.as_view(),
        name="artist-detail",
    ),
    re_path(
        r"^lookup-whatsapp-groups/?$",
        apis.ArtistLookupApi.as_view(),
        name="lookup-whatsapp-groups",
    ),
    re_path(
        r"^sync-whatsapp-group-members/?$",
        apis.GroupMembersSyncApi.as_view(),
        name="sync-whatsapp-group-members",
    ),
]
