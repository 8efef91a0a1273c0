from __future__ import annotations

from django.urls import path

from artists_app import views

app_name = "artists"

urlpatterns = [
    path("artists/", views.artists_page, name="page"),
    path("artists/lookup/", views.artist_lookup, name="lookup"),
    path("artists/table/", views.artists_table, name="table"),
    path("artists/health/", views.cache_health, name="health"),
    path("artists/create/", views.artist_create, name="create"),
    path("artists/panel/", views.artist_panel_closed, name="panel-closed"),
    path("artists/<uuid:artist_id>/", views.artist_panel, name="panel"),
    path("artists/<uuid:artist_id>/update/", views.artist_update, name="update"),
    path("artists/<uuid:artist_id>/members/", views.artist_members, name="members"),
    path("artists/<uuid:artist_id>/members.csv", views.artist_members_csv, name="members-csv"),
    path("artists/<uuid:artist_id>/archive/", views.artist_archive, name="archive"),
    path("artists/<uuid:artist_id>/unarchive/", views.artist_unarchive, name="unarchive"),
    path("artists/<uuid:artist_id>/delete/", views.artist_delete, name="delete"),
    path("artists/sync/", views.sync_start, name="sync"),
    path("artists/sync/progress/", views.sync_progress, name="sync-progress"),
]
