"""Rollback pages, under /<project>/."""

from django.urls import path

from rollbacks import views

urlpatterns = [
    path("deploys/<int:deploy_id>/rollback/", views.rollback_confirm, name="rollback_confirm"),
    path("deploys/<int:deploy_id>/promote/", views.promotion_request, name="promotion_request"),
    path("deploys/<int:deploy_id>/release-cards/", views.release_cards, name="release_cards"),
    path("rollbacks/endpoint/", views.rollback_endpoint_settings, name="rollback_endpoint_settings"),
]
