"""Celery adapters for impact analysis: compute one deploy's report, the per-minute sweep, retention."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from deployments.models import Deploy
from metrics.impact import analysis, partitions
from metrics.impact.cardinality import series_forget
from metrics.impact.models import ImpactReport, MetricBatch, MetricPoint, MetricRollup
from metrics.impact.services import LIVE_STATUSES
from tracker.enqueue import send_now

logger = logging.getLogger(__name__)

# A claim older than this belongs to a dead worker.
CLAIM_TIMEOUT = timedelta(minutes=3)
# The sweep keeps recomputing (and catches up lost work) for deploys this recent whose report is not final.
RECOMPUTE_HORIZON = timedelta(days=2)
# Retention deletes in chunks so one run never holds a long lock or a huge transaction.
RETENTION_CHUNK = 20_000


@shared_task(acks_late=True, soft_time_limit=100, time_limit=120)
def impact_compute(deploy_id: int) -> None:
    """Recompute one deploy's impact report; idempotent, claimed by a conditional UPDATE, final reports stay."""
    deploy = Deploy.objects.select_related("service").filter(pk=deploy_id).first()
    if deploy is None:
        return
    now = timezone.now()
    report, _ = ImpactReport.objects.get_or_create(deploy=deploy)
    claimed = (
        ImpactReport.objects.filter(pk=report.pk, final=False)
        .filter(Q(claimed_at=None) | Q(claimed_at__lt=now - CLAIM_TIMEOUT))
        .update(claimed_at=now)
    )
    if claimed != 1:
        return
    try:
        analysis.impact_compute(deploy=deploy, now=now)
    finally:
        ImpactReport.objects.filter(pk=report.pk, claimed_at=now).update(claimed_at=None)


@shared_task(soft_time_limit=50, time_limit=60)
def impacts_sweep() -> int:
    """Every minute: recompute deploys in their observation window and finalise those whose window ended."""
    now = timezone.now()
    due = (
        Deploy.objects.filter(status__in=LIVE_STATUSES, deployed_at__gte=now - RECOMPUTE_HORIZON, deployed_at__lte=now)
        .exclude(impact_report__final=True)
        .order_by("-deployed_at")
        .values_list("pk", flat=True)[:500]
    )
    ids = list(due)
    for deploy_id in ids:
        send_now(impact_compute, deploy_id)
    return len(ids)


@shared_task(soft_time_limit=300, time_limit=360)
def metrics_partitions() -> int:
    """Hourly: create the raw points' day partitions up to a week ahead (PostgreSQL; idempotent)."""
    return len(partitions.partitions_ensure(today=timezone.now().date()))


@shared_task(soft_time_limit=300, time_limit=360)
def metrics_retention() -> int:
    """Delete raw points (and batch ids, and the series register's unseen names and label sets) past
    METRIC_RETENTION_DAYS, rollups past METRIC_ROLLUP_RETENTION_DAYS; return the rows deleted.

    On PostgreSQL raw points are partitioned by day: whole day partitions older than the cutoff are
    dropped (their rows counted from the planner's estimate), and only the default partition's expired
    points are deleted row by row. A day's points are therefore kept until the whole day is past the cutoff.
    """
    now = timezone.now()
    raw_cutoff = now - timedelta(days=settings.METRIC_RETENTION_DAYS)
    if partitions.partitioned():
        dropped, deleted = partitions.partitions_drop(before=raw_cutoff)
        deleted += partitions.default_delete(before=raw_cutoff)
        if dropped:
            logger.info("metrics_retention dropped partitions %s", ", ".join(dropped))
    else:
        deleted = _delete_chunked(MetricPoint.objects.filter(ts__lt=raw_cutoff))
    MetricBatch.objects.filter(received_at__lt=raw_cutoff).delete()
    series_forget(before=raw_cutoff.date())
    rollup_cutoff = now - timedelta(days=settings.METRIC_ROLLUP_RETENTION_DAYS)
    deleted += _delete_chunked(MetricRollup.objects.filter(minute__lt=rollup_cutoff))
    if deleted:
        logger.info("metrics_retention deleted %d rows", deleted)
    return deleted


def _delete_chunked(queryset) -> int:
    total = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:RETENTION_CHUNK])
        if not ids:
            return total
        total += queryset.model.objects.filter(pk__in=ids)._raw_delete(queryset.db)
