from django.urls import path

from dashboard import api

urlpatterns = [
    path("deploys/<int:deploy_id>", api.DeployDetailApi.as_view(), name="api_deploy_detail"),
    path("dora", api.DoraApi.as_view(), name="api_dora"),
]
