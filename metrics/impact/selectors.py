"""Reads for live metrics: impact reports, the gate's verdict, effective metric settings, chart series."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ObjectDoesNotExist

from deployments.models import Deploy, Service
from metrics.impact.analysis import DEFAULT_WARMUP_MINUTES
from metrics.impact.models import ImpactReport, MetricRollup, MetricSetting
from metrics.stats.impact import DEFAULT_ALLOWED_CHANGE, DEFAULT_MIN_SAMPLES, PENDING, default_direction

# Charts show the last hours before the deploy (the baseline's judged window) and the deploy's first hours.
CHART_BEFORE = timedelta(hours=2)
CHART_AFTER = timedelta(hours=3)


def report_of(deploy: Deploy) -> ImpactReport | None:
    try:
        return deploy.impact_report
    except ObjectDoesNotExist:
        return None


def impact_report_data(*, deploy: Deploy) -> dict[str, Any]:
    report = report_of(deploy)
    body = {
        "deploy": deploy.pk,
        "baseline": deploy.baseline_id,
        "verdict": report.verdict if report else PENDING,
        "score": report.score if report else None,
        "final": report.final if report else False,
        "reasons": report.reasons if report else ["not judged yet"],
        "computed_at": report.computed_at.isoformat() if report and report.computed_at else None,
        "compute_ms": report.compute_ms if report else None,
        "thresholds": {"healthy": 95.0, "marginal": 75.0},
        "metrics": report.metrics if report else [],
    }
    return body


def deploy_verdict(*, deploy: Deploy) -> dict[str, Any]:
    """The gate: a rollback deploy answers `rollback` (rollbacks skip the promotion gate but are recorded)."""
    if deploy.is_rollback:
        return {
            "deploy": deploy.pk,
            "verdict": "rollback",
            "score": None,
            "final": True,
            "reasons": [f"{deploy.version} is a rollback; rollbacks skip the promotion gate"],
        }
    data = impact_report_data(deploy=deploy)
    return {key: data[key] for key in ("deploy", "verdict", "score", "final", "reasons", "computed_at")}


def _setting_dict(service: Service, name: str, setting: MetricSetting | None) -> dict[str, Any]:
    if setting is None:
        return {
            "service": service.name,
            "name": name,
            "direction": default_direction(name),
            "allowed_change": DEFAULT_ALLOWED_CHANGE,
            "critical": False,
            "min_samples": DEFAULT_MIN_SAMPLES,
            "window_minutes": None,
            "warmup_minutes": DEFAULT_WARMUP_MINUTES,
            "seasonal_baseline": False,
            "configured": False,
        }
    return {
        "service": service.name,
        "name": name,
        "direction": setting.direction,
        "allowed_change": setting.allowed_change,
        "critical": setting.critical,
        "min_samples": setting.min_samples,
        "window_minutes": setting.window_minutes,
        "warmup_minutes": setting.warmup_minutes,
        "seasonal_baseline": setting.seasonal_baseline,
        "configured": True,
    }


def metric_setting_row(*, setting: MetricSetting, service: Service) -> dict[str, Any]:
    return _setting_dict(service, setting.name, setting)


def metric_settings_effective(*, service: Service) -> list[dict[str, Any]]:
    """Every metric the service posted or configured, with its stored setting or the default (two queries)."""
    stored = {s.name: s for s in MetricSetting.objects.filter(service=service)}
    posted = set(MetricRollup.objects.filter(service=service).values_list("name", flat=True).distinct())
    return [_setting_dict(service, name, stored.get(name)) for name in sorted(posted | set(stored))]


def chart_series(*, deploy: Deploy, names: list[str], until: datetime) -> dict[str, list[tuple]]:
    """Per-minute rollups of each metric around the deploy, across all deploys of its stream (one query).

    Rows: (minute, deploy_key, count, mean, min, max) in time order.
    """
    start = deploy.deployed_at - CHART_BEFORE
    end = min(until, deploy.deployed_at + CHART_AFTER)
    rows = (
        MetricRollup.objects.filter(
            service_id=deploy.service_id,
            environment_id=deploy.environment_id,
            name__in=names,
            minute__gte=start,
            minute__lte=end,
        )
        .order_by("name", "minute")
        .values_list("name", "minute", "deploy_key", "count", "total", "min_value", "max_value")
    )
    series: dict[str, list[tuple]] = {name: [] for name in names}
    for name, minute, deploy_key, count, total, low, high in rows:
        series[name].append((minute, deploy_key, count, total / count if count else None, low, high))
    return series
