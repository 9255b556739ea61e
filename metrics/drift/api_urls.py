from django.urls import path

from metrics.drift import api

urlpatterns = [
    path("predictions", api.SamplesIngestApi.as_view(), name="api_predictions"),
    path("deploys/<int:deploy_id>/drift", api.DeployDriftApi.as_view(), name="api_deploy_drift"),
]
