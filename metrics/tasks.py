"""Celery discovers `metrics.tasks`; each subject keeps its tasks in its own module."""

from metrics.drift.tasks import drift_compute, drift_sweep

__all__ = ["drift_compute", "drift_sweep"]
