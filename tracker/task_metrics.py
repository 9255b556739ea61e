"""Celery task durations, measured around each run in the process that runs it and counted in the database.

A worker process, the in-process mode's threads and eager runs in tests all send Celery's task_prerun and
task_postrun signals; the duration lands in a histogram row shared by every process (tracker.counters).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from celery.signals import task_postrun, task_prerun
from prometheus_client.core import Metric

from tracker.celery import app
from tracker.counters import DURATION_BUCKETS, counter_declare, counter_families, event_observe

TASK_DURATION = "deploy_tracker_task_duration_seconds"

# task id -> monotonic start; a task's two signals come from the same process.
_started: dict[str, float] = {}


def _before(task_id: str | None = None, **_: Any) -> None:
    if task_id:
        _started[task_id] = time.monotonic()


def _after(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    started = _started.pop(task_id or "", None)
    if started is not None and task is not None:
        event_observe(TASK_DURATION, time.monotonic() - started, task=task.name)


def connect() -> None:
    counter_declare(TASK_DURATION, "Celery task run time, by task.", {"task": []}, buckets=DURATION_BUCKETS)
    task_prerun.connect(_before, dispatch_uid="tracker.task_started", weak=False)
    task_postrun.connect(_after, dispatch_uid="tracker.task_finished", weak=False)


def families() -> Iterable[Metric]:
    # Every task of the product shows (as 0) before it first runs: the web process imports the apps' tasks
    # modules only as it needs them, so ask Celery's autodiscovery for all of them (once; cached after).
    app.loader.import_default_modules()
    ours = [name for name in app.tasks if not name.startswith("celery.")]
    counter_declare(TASK_DURATION, "Celery task run time, by task.", {"task": ours}, buckets=DURATION_BUCKETS)
    return counter_families()
