from django.urls import path

from metrics.impact import api

urlpatterns = [
    path("metrics", api.MetricsIngestApi.as_view(), name="api_metrics"),
    path("deploys/<int:deploy_id>/impact", api.DeployImpactApi.as_view(), name="api_deploy_impact"),
    path("deploys/<int:deploy_id>/verdict", api.DeployVerdictApi.as_view(), name="api_deploy_verdict"),
    path("verdict", api.VerdictLookupApi.as_view(), name="api_verdict"),
    path("metric-settings", api.MetricSettingListApi.as_view(), name="api_metric_settings"),
    path(
        "metric-settings/<str:service_name>/<path:name>",
        api.MetricSettingUpdateApi.as_view(),
        name="api_metric_setting_update",
    ),
]
