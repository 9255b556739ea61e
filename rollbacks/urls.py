"""Rollback pages, under /<project>/."""

from django.urls import path

from rollbacks import views

urlpatterns = [
    path("deploys/<int:deploy_id>/rollback/", views.rollback_confirm, name="rollback_confirm"),
    path("rollbacks/endpoint/", views.rollback_endpoint_settings, name="rollback_endpoint_settings"),
]
