from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from deployments.models import Deploy, Status
from deployments.services import deploy_processed_mark
from tracker.enqueue import send_now

logger = logging.getLogger(__name__)

# A claim older than this is taken to belong to a dead worker.
CLAIM_TIMEOUT = timedelta(minutes=5)
# Give the normal path a head start before the sweep steps in.
SWEEP_GRACE = timedelta(seconds=30)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def deploy_process(deploy_id: int) -> None:
    """Link the baseline and store what changed; idempotent, claimed by a conditional UPDATE."""
    now = timezone.now()
    claimed = (
        Deploy.objects.filter(pk=deploy_id, processed_at=None)
        .filter(Q(processing_claimed_at=None) | Q(processing_claimed_at__lt=now - CLAIM_TIMEOUT))
        .update(processing_claimed_at=now)
    )
    if claimed != 1:
        return
    deploy_processed_mark(deploy_id=deploy_id)


@shared_task(soft_time_limit=50, time_limit=60)
def deploys_sweep() -> int:
    """Re-enqueue succeeded deploys whose task never ran or whose worker died."""
    now = timezone.now()
    due = (
        Deploy.objects.filter(status=Status.SUCCEEDED, processed_at=None, updated_at__lt=now - SWEEP_GRACE)
        .filter(Q(processing_claimed_at=None) | Q(processing_claimed_at__lt=now - CLAIM_TIMEOUT))
        .values_list("pk", flat=True)[:500]
    )
    ids = list(due)
    for deploy_id in ids:
        send_now(deploy_process, deploy_id)
    if ids:
        logger.info("deploys_sweep re-enqueued %d deploys", len(ids))
    return len(ids)
