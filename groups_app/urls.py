from __future__ import annotations

from django.urls import path

from groups_app import views

app_name = "groups"

# Mounted under settings/whatsapp/ next to the sessions pages.
urlpatterns = [
    path("sessions/<uuid:session_id>/groups/", views.group_section, name="section"),
    path("sessions/<uuid:session_id>/groups/sync/", views.group_sync_view, name="sync"),
    path("sessions/<uuid:session_id>/groups/list/", views.group_table, name="list"),
]
