from __future__ import annotations

from django.urls import path

from whatsapp_crm import team_views

app_name = "team"

urlpatterns = [
    path("team/", team_views.team_page, name="page"),
    path("team/time-zone/", team_views.organization_time_zone, name="time-zone"),
    path("team/<int:pk>/role/", team_views.member_role, name="member-role"),
    path("team/<int:pk>/remove/", team_views.member_remove, name="member-remove"),
    path("api-token/", team_views.api_token_page, name="api-token"),
    path("api-token/create/", team_views.api_token_create, name="api-token-create"),
    path("api-token/revoke/", team_views.api_token_revoke, name="api-token-revoke"),
]
