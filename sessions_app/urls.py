from __future__ import annotations

from django.urls import path

from sessions_app import views

app_name = "sessions"

urlpatterns = [
    path("", views.sessions_page, name="page"),
    path("sessions/new/", views.session_create, name="create"),
    path("sessions/history/", views.session_history, name="history"),
    path("sessions/down-banner/", views.sessions_down_banner, name="down-banner"),
    path("sessions/<uuid:pk>/card/", views.session_card, name="card"),
    path("sessions/<uuid:pk>/qr/", views.session_qr, name="qr"),
    path("sessions/<uuid:pk>/verify/", views.session_verify, name="verify"),
    path("sessions/<uuid:pk>/reconnect/", views.session_reconnect, name="reconnect"),
    path("sessions/<uuid:pk>/logout/", views.session_logout, name="logout"),
]
