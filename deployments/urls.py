"""Deployment pages, under /<project>/."""

from django.urls import path

from deployments import views

urlpatterns = [
    path("services/<str:service_name>/settings/", views.service_settings, name="service_settings"),
]
