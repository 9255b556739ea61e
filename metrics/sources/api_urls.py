from django.urls import path

from metrics.sources import api

urlpatterns = [
    path("metric-sources", api.MetricSourceCollectionApi.as_view(), name="api_metric_sources"),
    path("metric-sources/<int:source_id>", api.MetricSourceDetailApi.as_view(), name="api_metric_source_detail"),
    path("metric-sources/<int:source_id>/test", api.MetricSourceTestApi.as_view(), name="api_metric_source_test"),
]
