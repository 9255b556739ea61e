"""The seeding clock: while the demo's history is replayed, the product's clock reads the replayed moment.

Services that take `now=` get it passed explicitly; the rest of the product (row timestamps, the tasks the
services enqueue, the alert engine's defaults) reads `django.utils.timezone.now`, which the clock stands in
for while seeding, so every row of the history carries the time it would have had. Seeding is one thread in
one process (the management command), and the real clock is back as soon as it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from django.utils import timezone


class SeedingClock:
    def __init__(self, start: datetime) -> None:
        self.at = start

    def now(self) -> datetime:
        return self.at

    def timestamp(self) -> float:
        return self.at.timestamp()

    def advance_to(self, at: datetime) -> None:
        """Time only moves forward: what was written stays in time order."""
        self.at = max(self.at, at)

    @contextmanager
    def installed(self) -> Iterator[SeedingClock]:
        real_now = timezone.now
        timezone.now = self.now
        try:
            yield self
        finally:
            timezone.now = real_now


@contextmanager
def tasks_in_process() -> Iterator[None]:
    """Run enqueued tasks at once, in this process, on the seeding clock (not later on a worker's clock).

    Their INFO lines (every sweep's re-enqueues) are held back: a newcomer waiting for the demo needs none.
    """
    from tracker.celery import app

    saved, quiet = app.conf.task_always_eager, logging.root.manager.disable
    app.conf.task_always_eager = True
    logging.disable(max(quiet, logging.INFO))
    try:
        yield
    finally:
        app.conf.task_always_eager = saved
        logging.disable(quiet)
