"""Celery adapter of the demo receiver: the demo's CI works after the receiver has answered."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from demo import services


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)
def demo_ci_rollback(message: dict[str, Any]) -> str | None:
    """Act on an accepted `rollback.requested` message; idempotent (see the service)."""
    rollback = services.demo_ci_rollback(message=message)
    return rollback.state if rollback is not None else None
