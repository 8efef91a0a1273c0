from __future__ import annotations

from django.urls import path

from gateways_app import views

app_name = "gateways"

urlpatterns = [
    path("", views.gateways_page, name="page"),
    path("<uuid:pk>/check/", views.gateway_check, name="check"),
    path("default/check/", views.default_gateway_check, name="check-default"),
    path("<uuid:pk>/remove/", views.gateway_remove, name="remove"),
]
