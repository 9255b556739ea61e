"""Release actions API (rollbacks and promotions), under /api/v1/."""

from django.urls import path

from rollbacks import api

urlpatterns = [
    path("deploys/<int:deploy_id>/rollback", api.RollbackCreateApi.as_view(), name="api_rollback_create"),
    path("rollbacks/<uuid:rollback_id>", api.RollbackDetailApi.as_view(), name="api_rollback_detail"),
    path("rollbacks/<uuid:rollback_id>/status", api.RollbackStatusApi.as_view(), name="api_rollback_status"),
    path("deploys/<int:deploy_id>/promote", api.PromotionCreateApi.as_view(), name="api_promotion_create"),
    path("promotions/<uuid:promotion_id>", api.PromotionDetailApi.as_view(), name="api_promotion_detail"),
    path("promotions/<uuid:promotion_id>/status", api.PromotionStatusApi.as_view(), name="api_promotion_status"),
    path("rollback-endpoint", api.RollbackEndpointApi.as_view(), name="api_rollback_endpoint"),
]
