"""Celery discovers `metrics.tasks`; each subject keeps its tasks in its own module."""

from metrics.drift.tasks import drift_compute, drift_sweep
from metrics.impact.tasks import impact_compute, impacts_sweep, metrics_retention

__all__ = ["drift_compute", "drift_sweep", "impact_compute", "impacts_sweep", "metrics_retention"]
