"""Rollback API, under /api/v1/."""

from django.urls import path

from rollbacks import api

urlpatterns = [
    path("deploys/<int:deploy_id>/rollback", api.RollbackCreateApi.as_view(), name="api_rollback_create"),
    path("rollbacks/<uuid:rollback_id>", api.RollbackDetailApi.as_view(), name="api_rollback_detail"),
    path("rollbacks/<uuid:rollback_id>/status", api.RollbackStatusApi.as_view(), name="api_rollback_status"),
    path("rollback-endpoint", api.RollbackEndpointApi.as_view(), name="api_rollback_endpoint"),
]
