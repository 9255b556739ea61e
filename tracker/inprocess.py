"""The in-process mode's beat: periodic sweeps run by a thread of the web process.

With REDIS_URL and CELERY_BROKER_URL unset, tasks run in-process and no Celery beat exists, yet group_wait
flushes, delivery and rollback retries and rollback expiry all happen only in a sweep. So the web process runs
every entry of settings.CELERY_BEAT_SCHEDULE itself, in one daemon thread started by the first request it
serves (tracker/wsgi.py): manage.py commands, migrations and tests never build that path, runserver's reloader
parent serves no request, and a thread started before a fork (gunicorn --preload) cannot get lost. Of several
processes sharing VAR_DIR (gunicorn workers) only the holder of an flock runs the sweeps; the others keep
trying, so one takes over when the holder dies. The sweeps are idempotent, so an overlap would be harmless.
"""

from __future__ import annotations

import fcntl
import importlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from celery import Task
from celery.schedules import BaseSchedule, maybe_schedule
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

THREAD_NAME = "inprocess-sweeps"
# How often a process without the lock tries to take it over.
LOCK_RETRY_SECONDS = 5.0

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_start_lock = threading.Lock()
_thread: threading.Thread | None = None


@dataclass
class Sweep:
    name: str
    task: str
    schedule: BaseSchedule
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] | None = None
    last_run_at: datetime | None = None

    def seconds_until_due(self) -> float:
        """0 when due now (never run counts as due: catch up on what came due while nothing ran)."""
        if self.last_run_at is None:
            return 0.0
        due, next_check = self.schedule.is_due(self.last_run_at)
        return 0.0 if due else next_check


def enabled() -> bool:
    return bool(settings.CELERY_TASK_ALWAYS_EAGER and settings.INPROCESS_SWEEPS)


def with_sweeps(application: WSGIApp) -> WSGIApp:
    """Wrap the WSGI application so the first request of each process starts the sweeps."""
    if not enabled():
        return application

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if _thread is None:
            start()
        return application(environ, start_response)

    return app


def start() -> threading.Thread | None:
    """Start this process's sweep thread once; it runs the sweeps only while it holds the lock."""
    global _thread
    if not enabled():
        return None
    with _start_lock:
        if _thread is None:
            _thread = threading.Thread(target=_run_forever, name=THREAD_NAME, daemon=True)
            _thread.start()
    return _thread


def lock_path() -> Path:
    return Path(settings.VAR_DIR) / "inprocess-sweeps.lock"


def try_lock(path: Path) -> IO[str] | None:
    """The open lock file while this process holds the lock (keep it open), else None."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a")  # noqa: SIM115 - held open for the life of the process
    except OSError:
        logger.exception("in-process sweeps: cannot open the lock file %s", path)
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()  # another process holds it
        return None
    return handle


def sweeps_from_settings() -> list[Sweep]:
    from tracker.celery import app

    return [
        Sweep(
            name=name,
            task=entry["task"],
            schedule=maybe_schedule(entry["schedule"], app=app),
            args=tuple(entry.get("args", ())),
            kwargs=entry.get("kwargs"),
        )
        for name, entry in settings.CELERY_BEAT_SCHEDULE.items()
    ]


def _run_forever() -> None:
    held = try_lock(lock_path())
    if held is None:
        logger.info("in-process sweeps: process %d waits for the lock (another process runs them)", os.getpid())
    while held is None:
        time.sleep(LOCK_RETRY_SECONDS)
        held = try_lock(lock_path())
    logger.info("in-process sweeps: process %d runs the beat schedule", os.getpid())
    sweeps = sweeps_from_settings()
    while True:
        run_due(sweeps)
        time.sleep(max(0.05, min(sweep.seconds_until_due() for sweep in sweeps)))


def run_due(sweeps: list[Sweep]) -> None:
    for sweep in sweeps:
        if sweep.seconds_until_due() <= 0:
            sweep.last_run_at = sweep.schedule.now()
            run_one(sweep)


def run_one(sweep: Sweep) -> None:
    """Call the task in this thread; an error is logged and the loop goes on."""
    close_old_connections()
    try:
        _task(sweep.task).apply(args=sweep.args, kwargs=sweep.kwargs or {}, throw=True)
    except Exception:
        logger.exception("in-process sweep %s failed", sweep.name)
    finally:
        close_old_connections()


def _task(name: str) -> Task:
    from tracker.celery import app

    if name not in app.tasks:
        # Tasks outside an app's tasks.py register on import of their module (named by path).
        importlib.import_module(name.rpartition(".")[0])
    return app.tasks[name]
