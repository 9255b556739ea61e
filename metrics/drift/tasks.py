"""Celery adapters for drift: take ids, claim, call a service."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from deployments.models import Deploy
from metrics.drift import services
from metrics.drift.models import DriftReport, SampleBatch
from metrics.drift.signals import drift_report_computed
from tracker.enqueue import send_now

logger = logging.getLogger(__name__)

# A due recomputation not claimed within this time lost its message (or its worker): send it again.
LOST_AFTER = timedelta(seconds=60)
# While a deploy is in its observation window its report is refreshed at least this often.
REFRESH_EVERY = timedelta(seconds=60)
# A sweep sends due work for at most this long (in chunks), not a fixed count.
SWEEP_BUDGET = timedelta(seconds=20)
SWEEP_CHUNK = 500


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def drift_compute(deploy_id: int) -> None:
    """Recompute one deploy's drift report if a recomputation is due; idempotent."""
    if not services.drift_claim(deploy_id=deploy_id):
        return
    deploy = Deploy.objects.select_related("service", "baseline").filter(pk=deploy_id).first()
    if deploy is None:
        return
    report = services.drift_compute(deploy=deploy)
    drift_report_computed.send(sender=DriftReport, report=report)


@shared_task(acks_late=True, soft_time_limit=30, time_limit=45)
def drift_rebaseline(deploy_id: int) -> None:
    """The deploy's baseline was (re)linked: if it has samples, ask for its drift to be judged again."""
    services.drift_rebaseline(deploy_id=deploy_id)


@shared_task(soft_time_limit=50, time_limit=60)
def drift_sweep() -> int:
    """Refresh reports of deploys in their window, finalise ended ones, resend lost recomputations.

    Oldest first (never computed, then by the last computation; lost ones by when they fell due), for at most
    SWEEP_BUDGET rather than a count: a crowd of newer reports cannot keep an older one waiting.
    """
    started, now, sent = time.monotonic(), timezone.now(), 0
    stale = DriftReport.objects.filter(final=False, due_at__isnull=True).filter(
        Q(computed_at__isnull=True) | Q(computed_at__lt=now - REFRESH_EVERY)
    )
    lost = DriftReport.objects.filter(due_at__lt=now - LOST_AFTER)
    while True:
        ids = list(
            stale.order_by(F("computed_at").asc(nulls_first=True), "deploy_id").values_list("deploy_id", flat=True)[
                :SWEEP_CHUNK
            ]
        )
        DriftReport.objects.filter(deploy_id__in=ids, due_at__isnull=True).update(due_at=now)
        # Resent ones count as due again from now: the next sweep waits LOST_AFTER before sending them again.
        resent = list(lost.order_by("due_at", "deploy_id").values_list("deploy_id", flat=True)[:SWEEP_CHUNK])
        DriftReport.objects.filter(deploy_id__in=resent).update(due_at=now)
        for deploy_id in sorted(set(ids) | set(resent)):
            send_now(drift_compute, deploy_id)
        sent += len(set(ids) | set(resent))
        drained = len(ids) < SWEEP_CHUNK and len(resent) < SWEEP_CHUNK
        if drained or time.monotonic() - started >= SWEEP_BUDGET.total_seconds():
            break
    if sent:
        logger.info("drift_sweep sent %d recomputations", sent)
    return sent


@shared_task(soft_time_limit=300, time_limit=360)
def samples_retention() -> int:
    """Forget prediction batch ids past METRIC_RETENTION_DAYS (a retry comes within minutes, not months):
    the table that makes a retried batch a no-op stays bounded. Sketches and reports are kept."""
    cutoff = timezone.now() - timedelta(days=settings.METRIC_RETENTION_DAYS)
    deleted, _ = SampleBatch.objects.filter(received_at__lt=cutoff).delete()
    if deleted:
        logger.info("samples_retention forgot %d batch ids", deleted)
    return deleted
