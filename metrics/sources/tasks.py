"""Celery adapters for metric sources: the settings page's "test query", run in the worker."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.utils import timezone

from deployments.models import Deploy
from metrics.sources import judging
from metrics.sources.models import MetricSource


@shared_task(soft_time_limit=100, time_limit=120)
def source_test(source_id: int, requested_at: str) -> None:
    """Answer one test request; a newer request (or a deleted source) makes this one moot."""
    source = MetricSource.objects.filter(pk=source_id).first()
    if source is None or source.test_requested_at != datetime.fromisoformat(requested_at):
        return
    services = source.queries.values_list("service_id", flat=True)
    deploys = (
        Deploy.objects.filter(project_id=source.project_id, service_id__in=services)
        .select_related("service", "environment")
        .order_by("deployed_at")
    )
    result = judging.source_test(source=source, now=timezone.now(), deploys=deploys)
    MetricSource.objects.filter(pk=source_id, test_requested_at=source.test_requested_at).update(test_result=result)
