"""Compute and store a deploy's impact report: windows from the database, judgment from metrics.stats.impact."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from deployments.models import Deploy
from metrics.impact.models import ImpactReport, MetricPoint, MetricRollup, MetricSetting
from metrics.impact.signals import impact_report_computed
from metrics.sources import judging as sources
from metrics.stats import impact as judge

# The judge reads at most about this many values per window side (a sample stratified by minute beyond it).
# 25,000 per side keeps 20 metrics under a second (bench/impact.py); `n` in the report stays the true count.
MAX_JUDGED_VALUES = 25_000
SAMPLED_MINUTES = 240
DEFAULT_WARMUP_MINUTES = 5
SEASON = timedelta(days=7)


@dataclass(frozen=True)
class Windows:
    """Where one metric's values come from; stored in the report so the verdict explains itself."""

    baseline_deploy: int | None
    baseline_from: datetime | None
    baseline_to: datetime | None
    current_from: datetime
    current_to: datetime
    seasonal: bool

    def as_dict(self) -> dict:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "baseline_deploy": self.baseline_deploy,
            "baseline": [iso(self.baseline_from), iso(self.baseline_to)],
            "current": [iso(self.current_from), iso(self.current_to)],
            "seasonal": self.seasonal,
        }


def rule_for(name: str, setting: MetricSetting | None) -> judge.MetricRule:
    if setting is None:
        return judge.MetricRule(name, judge.default_direction(name))
    return judge.MetricRule(
        name,
        setting.direction,
        allowed_change=setting.allowed_change,
        critical=setting.critical,
        min_samples=setting.min_samples,
    )


def impact_compute(*, deploy: Deploy, now: datetime | None = None) -> ImpactReport:
    """Judge every metric of the deploy against its baseline and store the report (final after the window)."""
    started = time.perf_counter()
    now = now or timezone.now()
    # Read before any point: data committed after this read bumps the version again, so none goes unjudged.
    seen_version = ImpactReport.objects.filter(deploy=deploy).values_list("data_version", flat=True).first() or 0
    settings_by_name = {s.name: s for s in MetricSetting.objects.filter(service_id=deploy.service_id)}
    window_end = deploy.deployed_at + timedelta(minutes=deploy.service.window_minutes)
    queried, queried_windows = _queried(deploy, now, window_end)
    # A name a source answers is judged from the source (the store a team chose), not from pushed points.
    names = [n for n in _metric_names(deploy, settings_by_name) if n not in {q.query_name for q in queried}]
    judgments, windows, extras = [], {}, {}
    for name in names:
        setting = settings_by_name.get(name)
        win = _windows(deploy, name, setting, now, window_end)
        judgments.append(_judge_metric(deploy, name, setting, win))
        windows[name] = win.as_dict()
    for metric in queried:
        judgments.append(_judge_queried(metric))
        windows[metric.name], extras[metric.name] = queried_windows, metric.report_fields()
    warmups = [_warmup(settings_by_name.get(name)) for name in names] or [DEFAULT_WARMUP_MINUTES]
    warmup_end = deploy.deployed_at + timedelta(minutes=min(warmups))
    verdict = judge.judge_deploy(judgments, started=now >= warmup_end)
    if deploy.baseline_id is None and verdict.verdict == judge.INSUFFICIENT_DATA:
        verdict.reasons.insert(1, "no baseline deploy: this is the first succeeded deploy of its stream")
    unreachable = [m for m in queried if m.transient]
    _unvouched(verdict, unreachable)
    # A store that could not answer is asked again by the sweep: the report stays open until it does.
    final = now >= window_end and not unreachable
    state = _Computation(now=now, seen_version=seen_version, window_end=window_end, final=final, started=started)
    return _report_store(deploy, verdict, windows, state, extras)


def _queried(deploy: Deploy, now: datetime, window_end: datetime) -> tuple[list[sources.QueriedMetric], dict]:
    """The metrics the project's sources answer for this deploy, over windows laid out like the pushed ones:
    the baseline's last W minutes before this deploy (its version in the placeholders) and the current window."""
    length = timedelta(minutes=deploy.service.window_minutes)
    current_from = _ceil_minute(deploy.deployed_at + timedelta(minutes=DEFAULT_WARMUP_MINUTES))
    current_to = max(current_from, _floor_minute(min(now, window_end, current_from + length)))
    baseline = deploy.baseline if deploy.baseline_id else None
    baseline_to = _floor_minute(deploy.deployed_at)
    win = Windows(deploy.baseline_id, baseline_to - length if baseline else None, baseline_to if baseline else None,
                  current_from, current_to, False)  # fmt: skip
    if current_to <= current_from:
        return [], win.as_dict()
    metrics = sources.queried_metrics(
        deploy=deploy,
        baseline=baseline,
        baseline_window=sources.Window(baseline_to - length, baseline_to) if baseline else None,
        current_window=sources.Window(current_from, current_to),
    )
    return metrics, win.as_dict()


def _judge_queried(metric: sources.QueriedMetric) -> judge.MetricJudgment:
    rule = judge.MetricRule(
        metric.name, metric.direction, allowed_change=metric.allowed_change, critical=metric.critical,
        min_samples=metric.min_samples,
    )  # fmt: skip
    if metric.error:
        result = judge.judge_metric(rule, [], [])
        result.reason = f"{metric.name}: no data from source {metric.source['name']}: {metric.error}"
        return result
    return judge.judge_metric(rule, np.asarray(metric.baseline), np.asarray(metric.current))


def _unvouched(verdict: judge.Verdict, unreachable: list[sources.QueriedMetric]) -> None:
    """A store that did not answer leaves its metrics unknown: the deploy cannot be called healthy on the rest."""
    if unreachable and verdict.verdict in (judge.HEALTHY, judge.IMPROVED, judge.MARGINAL):
        names = ", ".join(sorted({m.source["name"] for m in unreachable}))
        verdict.verdict = judge.INSUFFICIENT_DATA
        verdict.reasons.insert(0, f"insufficient data: metric source {names} did not answer; judged again next sweep")


def _metric_names(deploy: Deploy, settings_by_name: dict[str, MetricSetting]) -> list[str]:
    keys = [deploy.pk] + ([deploy.baseline_id] if deploy.baseline_id else [])
    posted = MetricRollup.objects.filter(deploy_key__in=keys).values_list("name", flat=True).distinct()
    return sorted(set(posted) | set(settings_by_name))


def _warmup(setting: MetricSetting | None) -> int:
    return setting.warmup_minutes if setting is not None else DEFAULT_WARMUP_MINUTES


def _floor_minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _ceil_minute(at: datetime) -> datetime:
    floor = _floor_minute(at)
    return floor if floor == at else floor + timedelta(minutes=1)


def _windows(deploy: Deploy, name: str, setting: MetricSetting | None, now: datetime, window_end: datetime) -> Windows:
    """Current: whole minutes after the warm-up, up to now (at most W). Baseline: the last W minutes of the
    baseline's traffic. Whole minutes, so the per-minute rollups give each window's exact point count."""
    minutes = setting.window_minutes if setting is not None and setting.window_minutes else None
    length = timedelta(minutes=minutes or deploy.service.window_minutes)
    current_from = _ceil_minute(deploy.deployed_at + timedelta(minutes=_warmup(setting)))
    current_to = max(current_from, _floor_minute(min(now, window_end, current_from + length)))
    if setting is not None and setting.seasonal_baseline:
        return Windows(None, current_from - SEASON, current_to - SEASON, current_from, current_to, True)
    if deploy.baseline_id is None:
        return Windows(None, None, None, current_from, current_to, False)
    last_minute = MetricRollup.objects.filter(
        deploy_key=deploy.baseline_id, name=name, minute__lt=deploy.deployed_at
    ).aggregate(last=Max("minute"))["last"]
    end = min(deploy.deployed_at, last_minute + timedelta(minutes=1)) if last_minute else deploy.deployed_at
    # Rounded up: the baseline's points stop at the deploy (or name the baseline), so nothing foreign comes in.
    baseline_to = _ceil_minute(end)
    return Windows(deploy.baseline_id, baseline_to - length, baseline_to, current_from, current_to, False)


def _judge_metric(deploy: Deploy, name: str, setting: MetricSetting | None, win: Windows) -> judge.MetricJudgment:
    points = MetricPoint.objects.filter(name=name)
    rollups = MetricRollup.objects.filter(name=name)
    current, n_current = _values(
        points.filter(deploy_id=deploy.pk), rollups.filter(deploy_key=deploy.pk), win.current_from, win.current_to
    )
    if win.seasonal:
        stream = {"service_id": deploy.service_id, "environment_id": deploy.environment_id}
        baseline, n_baseline = _values(
            points.filter(**stream), rollups.filter(**stream), win.baseline_from, win.baseline_to
        )
    elif win.baseline_deploy:
        baseline, n_baseline = _values(
            points.filter(deploy_id=win.baseline_deploy),
            rollups.filter(deploy_key=win.baseline_deploy),
            win.baseline_from,
            win.baseline_to,
        )
    else:
        baseline, n_baseline = np.empty(0), 0
    return judge.judge_metric(rule_for(name, setting), baseline, current, n_baseline=n_baseline, n_current=n_current)


def _values(points, rollups, ts_from: datetime, ts_to: datetime) -> tuple[np.ndarray, int]:
    """The window's values and its exact point count (from the rollups: the window is whole minutes).

    Above MAX_JUDGED_VALUES points the judge reads a sample stratified by minute: up to an equal number of
    points from each minute (at most SAMPLED_MINUTES evenly spaced minutes), so counting and reading never
    scan the whole window.
    """
    per_minute = list(
        rollups.filter(minute__gte=ts_from, minute__lt=ts_to).order_by("minute").values_list("minute", "count")
    )
    total = sum(count for _, count in per_minute)
    window = points.filter(ts__gte=ts_from, ts__lt=ts_to)
    if total <= MAX_JUDGED_VALUES:
        return np.fromiter(window.values_list("value", flat=True), dtype=np.float64), total
    minutes = sorted({minute for minute, _ in per_minute})
    minutes = minutes[:: math.ceil(len(minutes) / SAMPLED_MINUTES)]
    quota = math.ceil(MAX_JUDGED_VALUES / len(minutes))
    parts = [
        window.filter(ts__gte=m, ts__lt=m + timedelta(minutes=1)).order_by("ts").values_list("value", flat=True)[:quota]
        for m in minutes
    ]
    if connection.features.supports_slicing_ordering_in_compound:
        rows = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
        return np.fromiter(rows, dtype=np.float64), total
    return np.fromiter((v for part in parts for v in part), dtype=np.float64), total


@dataclass(frozen=True)
class _Computation:
    now: datetime
    seen_version: int
    window_end: datetime
    final: bool
    started: float


def _report_store(
    deploy: Deploy, verdict: judge.Verdict, windows: dict, state: _Computation, extras: dict | None = None
) -> ImpactReport:
    data = verdict.to_dict()
    for metric in data["metrics"]:
        metric["windows"] = windows.get(metric["name"])
        metric.update((extras or {}).get(metric["name"], {}))
    with transaction.atomic():
        report, _ = ImpactReport.objects.select_for_update().get_or_create(deploy=deploy)
        report.verdict, report.score, report.final = verdict.verdict, verdict.score, state.final
        report.reasons, report.metrics, report.windows = data["reasons"], data["metrics"], windows
        report.computed_at = timezone.now()
        report.compute_ms = round((time.perf_counter() - state.started) * 1000, 1)
        report.claimed_at = None
        report.computed_version, report.window_ends_at = state.seen_version, state.window_end
        # Data that came in while this ran is still due, from when this computation started.
        report.requested_at = None if report.data_version == state.seen_version else state.now
        report.save()
    impact_report_computed.send(sender=ImpactReport, report=report)
    return report
