from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from whatsapp_crm import api, health, home, views

urlpatterns = [
    path("", home.home_page, name="home"),
    path("home/sessions/", home.home_sessions, name="home-sessions"),
    path("home/activity/", home.home_activity, name="home-activity"),
    path("home/cache/", home.home_cache, name="home-cache"),
    path("healthz", views.healthz, name="healthz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("readyz", health.readyz, name="readyz"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # Pages. Each app's urls.py declares its own paths and namespace.
    path("settings/whatsapp/", include("sessions_app.urls")),
    path("settings/whatsapp/", include("groups_app.urls")),
    path("", include("campaigns_app.urls")),
    path("", include("artists_app.urls")),
    path("settings/", include("whatsapp_crm.team_urls")),
    path("settings/gateways/", include("gateways_app.urls")),
    # JSON API and webhooks (paths accept a missing trailing slash).
    *api.api_path(
        "api/tasks/<uuid:task_id>", api.TaskRunDetailApi.as_view(), name="api-task-detail"
    ),
    path("api/", include("sessions_app.api_urls")),
    path("api/", include("groups_app.api_urls")),
    path("api/", include("campaigns_app.api_urls")),
    path("api/", include("artists_app.api_urls")),
    path("api/", include("gateways_app.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
]

if settings.BENCH_BARE_VIEW:  # only in the gunicorn that bench/bench_webhooks.py starts
    from bench.bare_view import BareApi, DurableInsertApi

    urlpatterns.append(path("bench/bare/", BareApi.as_view(), name="bench-bare"))
    urlpatterns.append(path("bench/insert/", DurableInsertApi.as_view(), name="bench-insert"))

handler404 = "whatsapp_crm.views.not_found"
