"""Seed the demo by replaying its story through the product, in time order, on the seeding clock.

Nothing here writes a report, an alert or a rollback row: CI's deploy events go through `deploy_record`, the
services' metric points and prediction samples through the same validation and ingest as the API, and beat's
sweeps run at their moments. The tasks those enqueue run in-process on the seeding clock: deploy processing
links baselines and detects the rollback, the impact and drift analyses judge each deploy, and the alert
engine opens, updates and resolves alerts on the reports they store.
"""

from __future__ import annotations

import importlib
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.utils import timezone

from demo import story, traffic
from demo.clock import SeedingClock, tasks_in_process
from demo.selectors import DEMO_SLUG
from demo.services import CI_SOURCE, ci_model_fields
from deployments.services import deploy_record, service_get_or_create
from metrics.drift.services import samples_ingest
from metrics.impact.services import metric_setting_save, points_ingest
from metrics.points import MAX_POINTS, validate_points
from metrics.predictions import validate_batch
from tracker.models import Project
from tracker.services import project_create


def demo_seed(*, user: AbstractBaseUser, end: datetime | None = None) -> Project:
    """Create the demo project owned by `user` and replay four weeks of history ending at `end` (now)."""
    if connection.in_atomic_block:
        raise RuntimeError("seed the demo outside any transaction: the product's tasks run when each step commits")
    end = end or timezone.now()
    deploys = story.history(end)
    clock = SeedingClock(deploys[0].at - timedelta(hours=1))
    with clock.installed(), tasks_in_process():
        project = project_create(slug=DEMO_SLUG, name="Demo", owner=user)
        # The team marks error_rate critical before the first deploy: one failing error_rate fails a deploy.
        fraud = service_get_or_create(project=project, name="fraud-scorer")
        metric_setting_save(project=project, service=fraud, name="error_rate", critical=True)
        replay = Replay(project, clock)
        for action in story.schedule(deploys, end):
            clock.advance_to(action.at)
            replay.play(action)
        clock.advance_to(end)
    return project


class Replay:
    """Plays one action of the story: what CI, the services and beat do at that moment."""

    def __init__(self, project: Project, clock: SeedingClock) -> None:
        self.project, self.clock = project, clock
        self.rng = np.random.default_rng(11)
        self.last_sweeps: dict[str, datetime] = {}

    def play(self, action: story.Action) -> None:
        getattr(self, action.kind)(action)

    def deploy(self, action: story.Action) -> None:
        script = action.deploy
        event = {key: value for key, value in script.event.items() if key != "model"}
        deploy_record(
            project=self.project,
            service=script.service,
            environment=script.environment,
            version=script.version,
            external_id=script.key,
            status=script.status,
            started_at=script.at - timedelta(minutes=7),
            finished_at=script.at,
            source=CI_SOURCE,
            **event,
            **ci_model_fields(script.event.get("model") or {}),
        )

    def points(self, action: story.Action) -> None:
        rows = traffic.points(action.deploy, action.start, action.end, self.rng)
        for first in range(0, len(rows), MAX_POINTS):
            batch = validate_points(
                rows[first : first + MAX_POINTS],
                now=self.clock.timestamp(),
                retention_days=settings.METRIC_RETENTION_DAYS,
            )
            points_ingest(project=self.project, batch=batch)

    def samples(self, action: story.Action) -> None:
        data = traffic.samples(action.deploy, action.start, action.end, self.rng)
        samples_ingest(project=self.project, batch=validate_batch(data, now=self.clock.timestamp()))

    def sweep(self, action: story.Action) -> None:
        """Beat at this moment: each periodic sweep whose interval has passed runs here (its tasks too)."""
        for key, entry in settings.CELERY_BEAT_SCHEDULE.items():
            last = self.last_sweeps.get(key)
            if last is not None and (self.clock.now() - last).total_seconds() < entry["schedule"]:
                continue
            self.last_sweeps[key] = self.clock.now()
            module, name = entry["task"].rsplit(".", 1)
            getattr(importlib.import_module(module), name)()
