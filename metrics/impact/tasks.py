"""Celery adapters for impact analysis: compute one deploy's report, the per-minute sweep, retention."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from deployments.models import Deploy
from metrics.impact import analysis, partitions
from metrics.impact.cardinality import series_forget
from metrics.impact.models import ImpactReport, MetricBatch, MetricChunk, MetricRollup
from metrics.impact.services import LIVE_STATUSES
from metrics.sources.models import SourceQuery
from tracker.enqueue import send_now

logger = logging.getLogger(__name__)

# A claim older than this belongs to a dead worker (longer than impact_compute's hard time limit).
CLAIM_TIMEOUT = timedelta(seconds=75)
# A recomputation sent this long ago and still not claimed lost its message (or its worker): send it again.
LOST_AFTER = timedelta(seconds=60)
# While in their window, reports judged from a metric source (nothing is pushed) are refreshed this often.
SOURCE_REFRESH = timedelta(seconds=60)
# A sweep sends due work for at most this long (not a count): the rest is the next sweep's, oldest first.
SWEEP_BUDGET = timedelta(seconds=20)
SWEEP_CHUNK = 500
# Deploys this recent that have no report yet (a lost message between processing and opening) are opened.
OPEN_HORIZON = timedelta(days=2)
# Retention deletes in chunks so one run never holds a long lock or a huge transaction.
RETENTION_CHUNK = 20_000


@shared_task(acks_late=True, soft_time_limit=50, time_limit=60)
def impact_compute(deploy_id: int) -> None:
    """Recompute one deploy's impact report if anything is due; idempotent, claimed by a conditional UPDATE."""
    deploy = Deploy.objects.select_related("service").filter(pk=deploy_id).first()
    if deploy is None:
        return
    now = timezone.now()
    report, _ = ImpactReport.objects.get_or_create(deploy=deploy)
    claimed = (
        ImpactReport.objects.filter(pk=report.pk, final=False)
        .filter(Q(claimed_at=None) | Q(claimed_at__lt=now - CLAIM_TIMEOUT))
        .update(claimed_at=now, sent_at=None)
    )
    if claimed != 1:
        # Busy elsewhere: the running computation sends the work again if it misses this message's data.
        ImpactReport.objects.filter(pk=report.pk, final=False).update(sent_at=None)
        return
    try:
        report.refresh_from_db()
        if _due(report, now):
            analysis.impact_compute(deploy=deploy, now=now)
    finally:
        ImpactReport.objects.filter(pk=report.pk, claimed_at=now).update(claimed_at=None)
    _send_if_still_due(report.pk)


def _due(report: ImpactReport, now) -> bool:
    """New data since the last computation, never computed, or the window ended (then it becomes final)."""
    if report.computed_at is None or report.window_ends_at is None:
        return True
    return report.data_version != report.computed_version or now >= report.window_ends_at


def _send_if_still_due(report_id: int) -> None:
    """Data that came in during the computation, whose message found the report busy, is judged next."""
    pending = ImpactReport.objects.filter(
        pk=report_id, final=False, sent_at=None, claimed_at=None, data_version__gt=F("computed_version")
    )
    deploy_id = pending.values_list("deploy_id", flat=True).first()
    if deploy_id is not None and pending.update(sent_at=timezone.now()) == 1:
        send_now(impact_compute, deploy_id)


@shared_task(soft_time_limit=50, time_limit=60)
def impacts_sweep() -> int:
    """Every minute: send the due recomputations, oldest request first, for at most SWEEP_BUDGET.

    Due: an open report whose data changed since its computation, never computed, or past its window (it is
    finalised then, however old: nothing is left open and forgotten); unless a message sent less than
    LOST_AFTER ago still waits for it or a live worker holds it. Reports judged from a metric source are
    asked again every SOURCE_REFRESH while open. A burst of new deploys cannot starve deploys with data: work
    goes out in the order it became due, and each deploy has at most one message in the queue.
    """
    started = time.monotonic()
    now = timezone.now()
    _open_missing_reports(now)
    _refresh_source_reports(now)
    sent = 0
    while ids := list(_due_reports(now).values_list("deploy_id", flat=True)[:SWEEP_CHUNK]):
        ImpactReport.objects.filter(deploy_id__in=ids).update(sent_at=now)
        for deploy_id in ids:
            send_now(impact_compute, deploy_id)
        sent += len(ids)
        if time.monotonic() - started >= SWEEP_BUDGET.total_seconds():
            break
    if sent:
        logger.info("impacts_sweep sent %d recomputations in %.1f s", sent, time.monotonic() - started)
    return sent


def _due_reports(now):
    return (
        ImpactReport.objects.filter(final=False)
        .filter(
            Q(data_version__gt=F("computed_version"))
            | Q(computed_at=None)
            | Q(window_ends_at=None)
            | Q(window_ends_at__lte=now)
        )
        .filter(Q(sent_at=None) | Q(sent_at__lt=now - LOST_AFTER))
        .filter(Q(claimed_at=None) | Q(claimed_at__lt=now - CLAIM_TIMEOUT))
        .order_by(Coalesce("requested_at", "window_ends_at", "computed_at").asc(nulls_first=True), "deploy_id")
    )


def _open_missing_reports(now) -> None:
    """A deploy processed but never judged (its message lost before the report was opened) gets a report."""
    missing = Deploy.objects.filter(
        status__in=LIVE_STATUSES, deployed_at__gte=now - OPEN_HORIZON, deployed_at__lte=now, impact_report=None
    ).exclude(processed_at=None)
    ImpactReport.objects.bulk_create(
        [ImpactReport(deploy_id=d, requested_at=now) for d in missing.values_list("pk", flat=True)],
        ignore_conflicts=True,
    )


def _refresh_source_reports(now) -> None:
    """A metric source pushes nothing, so nothing bumps its reports: while open they are asked again."""
    services = SourceQuery.objects.values("service_id")
    ImpactReport.objects.filter(
        final=False, deploy__service_id__in=services, computed_at__lt=now - SOURCE_REFRESH
    ).filter(data_version=F("computed_version")).update(
        data_version=F("data_version") + 1, requested_at=Coalesce(F("requested_at"), Value(now))
    )


@shared_task(soft_time_limit=300, time_limit=360)
def metrics_partitions() -> int:
    """Hourly: create the raw points' day partitions up to a week ahead (PostgreSQL; idempotent)."""
    return len(partitions.partitions_ensure(today=timezone.now().date()))


@shared_task(soft_time_limit=300, time_limit=360)
def metrics_retention() -> int:
    """Delete raw points (and batch ids, and the series register's unseen names and label sets) past
    METRIC_RETENTION_DAYS, rollups past METRIC_ROLLUP_RETENTION_DAYS; return the rows deleted: chunks of points
    and rollups (batch ids are not counted).

    Raw points are stored in chunks, one per series and minute of a batch: a chunk goes when its whole minute is
    past the cutoff. On PostgreSQL the chunks are partitioned by day: whole day partitions older than the cutoff
    are dropped (their rows counted from the planner's estimate), and only the default partition's expired
    chunks are deleted row by row. A day's points are therefore kept until the whole day is past the cutoff.
    """
    now = timezone.now()
    raw_cutoff = now - timedelta(days=settings.METRIC_RETENTION_DAYS)
    if partitions.partitioned():
        dropped, deleted = partitions.partitions_drop(before=raw_cutoff)
        deleted += partitions.default_delete(before=raw_cutoff)
        if dropped:
            logger.info("metrics_retention dropped partitions %s", ", ".join(dropped))
    else:
        # A chunk holds the points of its minute: it goes when all of them are past the cutoff.
        deleted = _delete_chunked(MetricChunk.objects.filter(minute__lte=raw_cutoff - timedelta(minutes=1)))
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
