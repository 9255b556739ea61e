"""Reads for metric sources: the API's and the settings page's view of a source, and the /metrics gauges."""

from __future__ import annotations

from typing import Any

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily, Metric

from metrics.sources.models import MetricSource
from tracker.models import Project


def source_list(*, project: Project) -> list[MetricSource]:
    return list(MetricSource.objects.filter(project=project).prefetch_related("queries__service"))


def source_data(source: MetricSource) -> dict[str, Any]:
    """A source as the API shows it: credentials never, only whether there are some."""
    return {
        "id": source.pk,
        "kind": source.kind,
        "name": source.name,
        "url": source.url,
        "has_credentials": bool(source.credentials_encrypted),
        "tenant": source.tenant,
        "timeout_seconds": source.timeout_seconds,
        "queries": [
            {
                "service": q.service.name,
                "name": q.name,
                "query": q.query,
                "step_seconds": q.step_seconds,
                "direction": q.direction,
                "critical": q.critical,
                "allowed_change": q.allowed_change,
                "min_samples": q.min_samples,
            }
            for q in source.queries.all()
        ],
        "health": {
            "healthy": source.healthy,
            "last_success_at": source.last_success_at,
            "last_error_at": source.last_error_at,
            "last_error": source.last_error,
        },
        "test": {"requested_at": source.test_requested_at, "result": source.test_result},
        "created_at": source.created_at,
    }


def sources_section(project: Project) -> list[dict[str, Any]]:
    """The settings page's card: each source with its health and query count (one query)."""
    rows = MetricSource.objects.filter(project=project).annotate(n_queries=Count("queries")).order_by("name")
    return [
        {
            "id": s.pk,
            "name": s.name,
            "url": s.url,
            "n_queries": s.n_queries,
            "healthy": s.healthy,
            "last_success_at": s.last_success_at,
            "last_error_at": s.last_error_at,
            "last_error": s.last_error,
        }
        for s in rows
    ]


def source_gauges() -> list[Metric]:
    """Each source's health for the team's own alerting (registered in SourcesConfig.ready): up (1) or down (0)
    once queried, and when a query last succeeded."""
    rows = list(MetricSource.objects.select_related("project").order_by("project__slug", "name"))
    up = GaugeMetricFamily(
        "deploy_tracker_metric_source_up",
        "Whether the source's latest query succeeded (1), failed (0).",
        labels=["project", "source"],
    )
    last_success = GaugeMetricFamily(
        "deploy_tracker_metric_source_last_success_timestamp_seconds",
        "When a query of the source last succeeded.",
        labels=["project", "source"],
    )
    for source in rows:
        labels = [source.project.slug, source.name]
        if source.healthy is not None:
            up.add_metric(labels, int(source.healthy))
        if source.last_success_at is not None:
            last_success.add_metric(labels, source.last_success_at.timestamp())
    return [up, last_success]
