from django.urls import include, path

from deployments import api

urlpatterns = [
    path("deploys", api.DeployCollectionApi.as_view(), name="api_deploys"),
    path("deploys/<int:deploy_id>", api.DeployDetailApi.as_view(), name="api_deploy_detail"),
    path("", include("deployments.rollbacks.api_urls")),
]
