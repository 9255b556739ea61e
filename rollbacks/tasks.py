"""Celery adapters for rollback requests: the outbox dispatcher and the periodic sweep."""

from __future__ import annotations

import logging

from celery import shared_task

from deployments.models import Deploy
from rollbacks import services

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, soft_time_limit=45, time_limit=60)
def rollback_dispatch(rollback_id: str) -> None:
    """Send one due request; schedules its own retry. Idempotent: the claim is a conditional UPDATE."""
    delay = services.rollback_dispatch_attempt(rollback_id=rollback_id)
    # In-process mode ignores countdowns, so there the sweep alone paces the retries.
    if delay is not None and not rollback_dispatch.app.conf.task_always_eager:
        # A lost retry message is not lost work: the sweep finds the due row anyway.
        rollback_dispatch.apply_async(args=[rollback_id], countdown=delay)


@shared_task(acks_late=True, soft_time_limit=45, time_limit=60)
def rollback_complete_check(deploy_id: int) -> None:
    """A processed deploy may complete its stream's open request (a second run finds it closed)."""
    deploy = Deploy.objects.filter(pk=deploy_id).first()
    if deploy is not None:
        services.rollback_complete_by_deploy(deploy=deploy)


@shared_task(soft_time_limit=50, time_limit=60)
def rollbacks_sweep() -> dict[str, int]:
    """Complete requests a lost message left open, expire requests past their deadline and re-enqueue sends
    whose message was lost. Completion first: a rollback that happened in time is not expired."""
    completed = services.rollbacks_complete_missed()
    expired = services.rollbacks_expire()
    due = services.rollbacks_due_for_dispatch()
    for rollback_id in due:
        rollback_dispatch.delay(rollback_id)
    if completed or expired or due:
        logger.info("rollbacks_sweep completed %d, expired %d, re-enqueued %d", completed, expired, len(due))
    return {"completed": completed, "expired": expired, "enqueued": len(due)}
