from django.urls import path

from metrics.sources import api

urlpatterns = [
    path("metric-sources", api.SourceCollectionApi.as_view(), name="api_metric_sources"),
    path("metric-sources/<int:source_id>", api.SourceDetailApi.as_view(), name="api_metric_source_detail"),
    path("metric-sources/<int:source_id>/test", api.SourceTestApi.as_view(), name="api_metric_source_test"),
]
