"""Metric source pages, under /<project>/."""

from django.urls import path

from metrics.sources import views

urlpatterns = [
    path("metric-sources/", views.metric_sources, name="metric_sources"),
    path("metric-sources/<int:source_id>/test/", views.metric_source_test, name="metric_source_test"),
    path("metric-sources/<int:source_id>/delete/", views.metric_source_delete, name="metric_source_delete"),
]
