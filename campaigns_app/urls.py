from __future__ import annotations

from django.urls import path

from campaigns_app import views

app_name = "campaigns"

# Mounted at the site root: the campaign pages and the queue page.
urlpatterns = [
    path("campaigns/", views.campaigns_page, name="list"),
    path("campaigns/new/", views.campaign_new, name="new"),
    path("campaigns/new/groups/", views.campaign_group_picker, name="group-picker"),
    path("campaigns/<uuid:pk>/", views.campaign_detail, name="detail"),
    path("campaigns/<uuid:pk>/progress/", views.campaign_progress, name="progress"),
    path("campaigns/<uuid:pk>/results.csv", views.campaign_results_csv, name="results-csv"),
    path("campaigns/<uuid:pk>/retry-failed/", views.campaign_retry_failed, name="retry-failed"),
    path("campaigns/<uuid:pk>/cancel/", views.campaign_cancel, name="cancel"),
    path("queue/", views.queue_page, name="queue"),
    path("queue/table/", views.queue_table, name="queue-table"),
    path("queue/poll/", views.queue_poll, name="queue-poll"),
    path("queue/new/", views.queue_create, name="queue-create"),
    path(
        "queue/<uuid:pk>/<slug:action>/",
        views.queue_action,
        name="queue-action",
    ),
]
