"""Demo data of the metrics app (called by seed_demo after the deploys); each subject seeds its part."""

from __future__ import annotations

from tracker.models import Project


def seed(*, project: Project) -> None:
    from metrics.drift import demo as drift_demo
    from metrics.impact import demo as impact_demo

    drift_demo.seed(project=project)
    impact_demo.seed(project=project)
