"""Enqueue after commit, and never let a broker outage fail the request that stored the data.

What is stored is the truth: if the message cannot be sent, a beat sweep finds the due work later.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task
from django.db import transaction

logger = logging.getLogger(__name__)


def enqueue(task: Task, *args: Any, **kwargs: Any) -> None:
    transaction.on_commit(lambda: send_now(task, *args, **kwargs))


def send_now(task: Task, *args: Any, **kwargs: Any) -> bool:
    try:
        task.apply_async(args=args, kwargs=kwargs)
        return True
    except Exception:
        logger.warning("could not enqueue %s%r; the sweep will pick it up", task.name, args, exc_info=True)
        return False
