"""Demo metric history: fraud-scorer's recent production deploys judged — one improved, one clearly degraded
(and then rolled back), the rollback healthy again — and churn-model's latest deploy with too little data."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.utils import timezone

from deployments.models import Deploy, Service
from deployments.services import deploy_link
from metrics.impact.analysis import impact_compute
from metrics.impact.services import metric_setting_save, points_ingest
from metrics.points import validate_points
from tracker.models import Project

POINTS_PER_MINUTE = 6
# (metric, draw(rng, size, plan)) — a plan scales the metric the way that deploy changed it.
EFFECTS = {
    "normal": {},
    "improved": {"latency_ms": 0.75},
    "degraded": {"latency_ms": 1.35, "error_rate": 2.6, "auc": 0.97},
}


def _values(rng: np.random.Generator, name: str, size: int, plan: str) -> np.ndarray:
    factor = EFFECTS[plan].get(name, 1.0)
    if name == "latency_ms":
        return rng.gamma(9.0, 9.0, size) * factor
    if name == "error_rate":
        return np.clip(rng.normal(0.010, 0.003, size) * factor, 0, 1)
    if name == "auc":
        return np.clip(rng.normal(0.912, 0.006, size) * factor, 0, 1)
    return np.clip(rng.normal(0.62, 0.02, size), 0, 1)  # approval_rate


def _points(deploy: Deploy, start: datetime, minutes: int, plan: str, rng: np.random.Generator) -> list[dict]:
    size = minutes * POINTS_PER_MINUTE
    offsets = np.sort(rng.uniform(0, minutes * 60, size))
    points = []
    for name in ("latency_ms", "error_rate", "auc", "approval_rate"):
        for offset, value in zip(offsets, _values(rng, name, size, plan), strict=True):
            points.append(
                {
                    "service": deploy.service.name,
                    "environment": deploy.environment.name,
                    "name": name,
                    "value": float(value),
                    "timestamp": (start + timedelta(seconds=float(offset))).timestamp(),
                }
            )
    return points


def _ingest(project: Project, points: list[dict]) -> None:
    for first in range(0, len(points), 10_000):
        batch = validate_points(
            points[first : first + 10_000], now=time.time(), retention_days=settings.METRIC_RETENTION_DAYS
        )
        points_ingest(project=project, batch=batch)


def seed(*, project: Project) -> list[Deploy]:
    """Post each deploy's first 70 minutes and the hour before its successor, then judge them."""
    rng = np.random.default_rng(11)
    fraud = Service.objects.get(project=project, name="fraud-scorer")
    metric_setting_save(project=project, service=fraud, name="error_rate", critical=True)
    stream = list(
        Deploy.objects.filter(project=project, service=fraud, environment__name="production")
        .exclude(status="failed")
        .select_related("service", "environment")
        .order_by("deployed_at", "id")
    )
    for deploy in stream:
        deploy_link(deploy=deploy)
    judged = stream[-4:]
    # the last one is the rollback: the improved version again, so it behaves like that one
    plans = ["normal", "improved", "degraded", "improved"][-len(judged) :]
    now = timezone.now()
    points: list[dict] = []
    for deploy, plan, successor in zip(judged, plans, [*judged[1:], None], strict=True):
        live_until = min(now, successor.deployed_at if successor else now)
        first = min(70, int((live_until - deploy.deployed_at).total_seconds() // 60))
        points += _points(deploy, deploy.deployed_at, first, plan, rng)
        if successor is not None and (successor.deployed_at - deploy.deployed_at) > timedelta(minutes=140):
            points += _points(deploy, successor.deployed_at - timedelta(minutes=65), 64, plan, rng)
    points += _sparse_points(project, rng)
    _ingest(project, points)
    reports = [*judged, *_sparse_deploys(project)]
    for deploy in reports:
        impact_compute(deploy=Deploy.objects.select_related("service").get(pk=deploy.pk), now=now)
    return reports


def _sparse_deploys(project: Project) -> list[Deploy]:
    latest = (
        Deploy.objects.filter(project=project, service__name="churn-model", environment__name="production")
        .exclude(status="failed")
        .select_related("service", "environment")
        .order_by("-deployed_at")
        .first()
    )
    return [latest] if latest else []


def _sparse_points(project: Project, rng: np.random.Generator) -> list[dict]:
    """churn-model's latest deploy: a dozen points — too few to judge (insufficient_data, never a pass)."""
    points = []
    for deploy in _sparse_deploys(project):
        deploy_link(deploy=deploy)
        start = deploy.deployed_at + timedelta(minutes=10)
        points += [p for p in _points(deploy, start, 2, "normal", rng) if p["name"] == "latency_ms"]
    return points
