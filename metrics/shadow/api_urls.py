from django.urls import path

from metrics.shadow import api

urlpatterns = [
    path("deploys/<int:deploy_id>/shadow", api.DeployShadowApi.as_view(), name="api_deploy_shadow"),
]
