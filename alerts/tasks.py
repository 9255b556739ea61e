"""Celery adapters for alerts: evaluate a deploy, flush a group, write verdict statuses and change events,
send a delivery, and the beat sweep."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from celery import Task, shared_task
from django.db import transaction
from django.utils import timezone

from alerts import services
from alerts.models import AlertGroup, ResolvedReason
from deployments.models import Deploy

logger = logging.getLogger(__name__)


def enqueue_at(task: Task, *args: Any, eta: datetime | None) -> None:
    """Send after commit, at `eta`; a broker outage only delays the work (the sweep finds it)."""

    def send() -> None:
        try:
            task.apply_async(args=args, eta=eta if eta and eta > timezone.now() else None)
        except Exception:
            logger.warning("could not enqueue %s%r; the sweep will pick it up", task.name, args, exc_info=True)

    transaction.on_commit(send)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def alerts_evaluate(deploy_id: int) -> int:
    deploy = Deploy.objects.filter(pk=deploy_id).first()
    if deploy is None:
        return 0
    return len(services.alerts_evaluate_deploy(deploy=deploy))


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def alerts_resolve_undone(deploy_ids: list[int]) -> int:
    """The deploys were rolled back: their open alerts resolve (a second run finds none open)."""
    return services.alerts_resolve_for_deploys(deploy_ids=deploy_ids, reason=ResolvedReason.ROLLED_BACK)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def alerts_resolve_replaced(deploy_id: int) -> int:
    """A processed deploy replaces the earlier ones of its stream: their open alerts resolve."""
    deploy = Deploy.objects.filter(pk=deploy_id).first()
    return 0 if deploy is None else services.alerts_resolve_superseded(deploy=deploy)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def group_flush(group_id: int) -> int:
    """Flush a due group; the conditional UPDATE claim makes duplicate messages harmless."""
    now = timezone.now()
    if not services.alert_group_claim(group_id=group_id, now=now):
        return 0
    return len(services.alert_group_flush(group_id=group_id, now=now))


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def statuses_write(deploy_id: int) -> int:
    """The deploy was processed or judged: queue a status wherever its verdict's status changed."""
    return len(services.statuses_write(deploy_id=deploy_id))


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def change_events_send(deploy_id: int) -> int:
    """A production deploy was processed: queue its PagerDuty change events (once per channel)."""
    return len(services.change_events_send(deploy_id=deploy_id))


@shared_task(acks_late=True, soft_time_limit=40, time_limit=60)
def delivery_send(delivery_id: int) -> bool:
    attempt = services.delivery_attempt(delivery_id=delivery_id)
    return attempt is not None and attempt.error == ""


@shared_task(soft_time_limit=50, time_limit=60)
def alerts_sweep() -> dict[str, int]:
    """Resolve alerts a lost message left open, re-enqueue due group flushes and deliveries whose message was
    lost or whose worker died."""
    resolved = services.alerts_resolve_missed()
    now = timezone.now()
    groups = list(AlertGroup.objects.filter(next_flush_at__lte=now).values_list("pk", flat=True)[:500])
    for group_id in groups:
        enqueue_at(group_flush, group_id, eta=None)
    deliveries = services.deliveries_due(now=now)
    for delivery_id in deliveries:
        enqueue_at(delivery_send, delivery_id, eta=None)
    if groups or deliveries or resolved:
        logger.info(
            "alerts_sweep resolved %d alerts, re-enqueued %d group flushes and %d deliveries",
            resolved,
            len(groups),
            len(deliveries),
        )
    return {"resolved": resolved, "groups": len(groups), "deliveries": len(deliveries)}
