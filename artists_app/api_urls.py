from __future__ import annotations

from artists_app import apis
from whatsapp_crm.api import api_path

app_name = "artists-api"

# Each route with and without its trailing slash (INTERFACE.md §6); a malformed id is a 404.
urlpatterns = [
    *api_path("artists", apis.ArtistCollectionApi.as_view(), name="artist-list"),
    *api_path("artists/<uuid:pk>", apis.ArtistDetailApi.as_view(), name="artist-detail"),
    *api_path(
        "lookup-whatsapp-groups", apis.ArtistLookupApi.as_view(), name="lookup-whatsapp-groups"
    ),
    *api_path(
        "sync-whatsapp-group-members",
        apis.GroupMembersSyncApi.as_view(),
        name="sync-whatsapp-group-members",
    ),
    *api_path(
        "webhooks/whatsapp/group-participants",
        apis.GroupParticipantsWebhookApi.as_view(),
        name="webhook-group-participants",
    ),
]
