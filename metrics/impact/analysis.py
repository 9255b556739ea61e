"""Compute and store a deploy's impact report: windows from the database, judgment from metrics.stats.impact."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db import transaction
from django.db.models import BinaryField, Max, QuerySet
from django.db.models.functions import Substr
from django.utils import timezone

from deployments.analysis_settings import AnalysisSettings
from deployments.models import Deploy
from metrics.impact.chunks import MINUTE_US, micros_of, points_of
from metrics.impact.models import ImpactReport, MetricChunk, MetricRollup, MetricSetting
from metrics.impact.signals import impact_report_computed
from metrics.sources import judging as sources
from metrics.stats import impact as judge

# The judge reads at most about this many values per window side (a sample stratified by minute beyond it).
# 25,000 per side keeps 20 metrics under a second (bench/impact.py); `n` in the report stays the true count.
MAX_JUDGED_VALUES = 25_000
SAMPLED_MINUTES = 240

SEASON = timedelta(days=7)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class Windows:
    """Where one metric's values come from; stored in the report so the verdict explains itself.

    In concurrent mode the baseline window is the current window: the baseline deploy's points beside this one."""

    baseline_deploy: int | None
    baseline_from: datetime | None
    baseline_to: datetime | None
    current_from: datetime
    current_to: datetime
    seasonal: bool
    mode: str = judge.SEQUENTIAL

    def as_dict(self) -> dict:
        return {
            "baseline_deploy": self.baseline_deploy,
            "baseline": [_iso(self.baseline_from), _iso(self.baseline_to)],
            "current": [_iso(self.current_from), _iso(self.current_to)],
            "seasonal": self.seasonal,
            "mode": self.mode,
        }

    def named(self) -> dict:
        """The report's names for the windows: `baseline_window` and `current_window`, each {"start", "end"}."""
        baseline = None
        if self.baseline_from is not None:
            baseline = {"start": _iso(self.baseline_from), "end": _iso(self.baseline_to)}
        current = {"start": _iso(self.current_from), "end": _iso(self.current_to)}
        return {"mode": self.mode, "baseline_window": baseline, "current_window": current}


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
    stream = deploy.service.analysis_settings(deploy.environment_id)
    window_end = deploy.deployed_at + timedelta(minutes=stream.observation_window_minutes)
    posted = _metric_names(deploy, settings_by_name)
    mode = impact_mode(deploy, stream, now, window_end, names=posted)
    queried, queried_win = _queried(deploy, stream, now, window_end, mode)
    # A name a source answers is judged from the source (the store a team chose), not from pushed points.
    names = [n for n in posted if n not in {q.query_name for q in queried}]
    judgments, wins, extras = [], {}, {}
    for name in names:
        setting = settings_by_name.get(name)
        wins[name] = _windows(deploy, name, setting, stream, now, window_end, mode)
        judgments.append(_judge_metric(deploy, name, setting, wins[name]))
    pushed = dict(wins)
    for metric in queried:
        judgments.append(_judge_queried(metric))
        wins[metric.name], extras[metric.name] = queried_win, metric.report_fields()
    warmups = [_warmup(settings_by_name.get(name), stream) for name in names] or [stream.warmup_minutes]
    started_at = now >= deploy.deployed_at + timedelta(minutes=min(warmups))
    verdict = judge.judge_deploy(judgments, started=started_at)
    if deploy.baseline_id is None and verdict.verdict == judge.INSUFFICIENT_DATA:
        verdict.reasons.insert(1, "no baseline deploy: this is the first succeeded deploy of its stream")
    found = _segments(deploy, stream, pushed, settings_by_name, verdict, started_at)
    unreachable = [m for m in queried if m.transient]
    _unvouched(verdict, unreachable)
    # A store that could not answer is asked again by the sweep: the report stays open until it does.
    final = now >= window_end and not unreachable
    layout = _span(list(wins.values()), mode) if wins else queried_win
    state = _Computation(now=now, seen_version=seen_version, window_end=window_end, final=final, started=started)
    return _report_store(deploy, verdict, wins, state, extras, layout=layout, segments=found)


def _segments(
    deploy: Deploy,
    stream: AnalysisSettings,
    pushed: dict[str, Windows],
    settings_by_name: dict[str, MetricSetting],
    verdict: judge.Verdict,
    started: bool,
) -> dict[str, list[judge.Segment]]:
    """The pushed metrics judged per segment of the service's `segment_labels`; a critical failure in any
    segment degrades the verdict, and every failure in a segment is named in its reasons."""
    # Segments read their windows through this module's sides and sampling: imported here, not in a cycle.
    from metrics.impact.segments import segments_judge

    found = segments_judge(
        deploy=deploy, keys=stream.segment_labels, windows=pushed,
        rules={n: rule_for(n, settings_by_name.get(n)) for n in pushed}, started=started,
    )  # fmt: skip
    judge.apply_segments(verdict, [s for per_key in found.values() for s in per_key])
    return found


def impact_mode(
    deploy: Deploy, stream: AnalysisSettings, now: datetime, window_end: datetime, *, names: list[str]
) -> str:
    """The service's forced mode, else concurrent when the deploy runs beside its baseline (canary, A/B, shadow,
    partial traffic) and points attributed to the baseline arrive in the deploy's observation window.
    `names` (the metrics posted) keep the lookup on the rollups' (deploy, name, minute) index."""
    if stream.impact_mode in judge.REPORT_MODES:
        return stream.impact_mode
    if deploy.baseline_id is None or not deploy.runs_beside_baseline or not names:
        return judge.SEQUENTIAL
    beside = MetricRollup.objects.filter(
        deploy_key=deploy.baseline_id, name__in=names, minute__gte=_ceil_minute(deploy.deployed_at),
        minute__lt=min(now, window_end),
    ).exists()  # fmt: skip
    return judge.CONCURRENT if beside else judge.SEQUENTIAL


def _span(wins: list[Windows], mode: str) -> Windows:
    """The report's own windows: the earliest start and latest end of its metrics' windows, per side."""
    starts = [w.baseline_from for w in wins if w.baseline_from is not None]
    ends = [w.baseline_to for w in wins if w.baseline_to is not None]
    return Windows(
        wins[0].baseline_deploy, min(starts) if starts else None, max(ends) if ends else None,
        min(w.current_from for w in wins), max(w.current_to for w in wins), any(w.seasonal for w in wins), mode,
    )  # fmt: skip


def _queried(
    deploy: Deploy, stream: AnalysisSettings, now: datetime, window_end: datetime, mode: str
) -> tuple[list[sources.QueriedMetric], Windows]:
    """The metrics the project's sources answer for this deploy, over windows laid out like the pushed ones:
    sequential, the baseline's last W minutes before this deploy (its version in the placeholders); concurrent,
    the baseline's series in the current window itself (each arm queried with its own placeholders)."""
    length = timedelta(minutes=stream.observation_window_minutes)
    current_from = _ceil_minute(deploy.deployed_at + timedelta(minutes=stream.warmup_minutes))
    current_to = max(current_from, _floor_minute(min(now, window_end, current_from + length)))
    baseline = deploy.baseline if deploy.baseline_id else None
    baseline_to = _floor_minute(deploy.deployed_at)
    baseline_from = baseline_to - length
    if mode == judge.CONCURRENT:
        baseline_from, baseline_to = current_from, current_to
    win = Windows(deploy.baseline_id, baseline_from if baseline else None, baseline_to if baseline else None,
                  current_from, current_to, False, mode)  # fmt: skip
    if current_to <= current_from:
        return [], win
    metrics = sources.queried_metrics(
        deploy=deploy,
        baseline=baseline,
        baseline_window=sources.Window(baseline_from, baseline_to) if baseline else None,
        current_window=sources.Window(current_from, current_to),
    )
    return metrics, win


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


def _warmup(setting: MetricSetting | None, stream: AnalysisSettings) -> int:
    """A metric's own warm-up, else its stream's (the service settings)."""
    return setting.warmup_minutes if setting is not None else stream.warmup_minutes


def _floor_minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _ceil_minute(at: datetime) -> datetime:
    floor = _floor_minute(at)
    return floor if floor == at else floor + timedelta(minutes=1)


def _windows(
    deploy: Deploy,
    name: str,
    setting: MetricSetting | None,
    stream: AnalysisSettings,
    now: datetime,
    window_end: datetime,
    mode: str = judge.SEQUENTIAL,
) -> Windows:
    """Current: whole minutes after the warm-up, up to now (at most W). Baseline: the last W minutes of the
    baseline's traffic, or in concurrent mode the baseline's points in the current window itself (a seasonal
    setting is moot there: both arms live through the same hours). Whole minutes, so the per-minute rollups
    give each window's exact point count."""
    minutes = setting.window_minutes if setting is not None and setting.window_minutes else None
    length = timedelta(minutes=minutes or stream.observation_window_minutes)
    current_from = _ceil_minute(deploy.deployed_at + timedelta(minutes=_warmup(setting, stream)))
    current_to = max(current_from, _floor_minute(min(now, window_end, current_from + length)))
    if mode == judge.CONCURRENT:
        frm, to = (current_from, current_to) if deploy.baseline_id else (None, None)
        return Windows(deploy.baseline_id, frm, to, current_from, current_to, False, judge.CONCURRENT)
    seasonal = setting.seasonal_baseline if setting is not None else stream.seasonal_baseline
    if seasonal:
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


@dataclass(frozen=True)
class Side:
    """One side of a metric's comparison: its point chunks and rollups (filtered to the arm) and its window."""

    chunks: QuerySet
    rollups: QuerySet
    start: datetime | None
    end: datetime | None


def sides(deploy: Deploy, name: str, win: Windows) -> tuple[Side, Side | None]:
    """The current side (this deploy's points) and the baseline side: the baseline deploy's points (its last W
    minutes, or the same window in concurrent mode), the stream's a season ago, or None without a baseline."""
    points, rollups = MetricChunk.objects.filter(name=name), MetricRollup.objects.filter(name=name)
    current = Side(points.filter(deploy_id=deploy.pk), rollups.filter(deploy_key=deploy.pk), win.current_from,
                   win.current_to)  # fmt: skip
    if win.seasonal:
        stream = {"service_id": deploy.service_id, "environment_id": deploy.environment_id}
        return current, Side(points.filter(**stream), rollups.filter(**stream), win.baseline_from, win.baseline_to)
    if win.baseline_deploy and win.baseline_from is not None:
        arm = win.baseline_deploy
        return current, Side(points.filter(deploy_id=arm), rollups.filter(deploy_key=arm), win.baseline_from,
                             win.baseline_to)  # fmt: skip
    return current, None


def _judge_metric(deploy: Deploy, name: str, setting: MetricSetting | None, win: Windows) -> judge.MetricJudgment:
    current_side, baseline_side = sides(deploy, name, win)
    current, n_current = _values(current_side)
    baseline, n_baseline = _values(baseline_side) if baseline_side else (np.empty(0), 0)
    rule = rule_for(name, setting)
    result = judge.judge_metric(rule, baseline, current, n_baseline=n_baseline, n_current=n_current)
    if win.mode == judge.CONCURRENT and result.judged_baseline < rule.min_samples:
        result.reason = (
            f"{name}: not enough control points: the baseline deploy had n={n_baseline} in the same window "
            f"(this deploy n={n_current}; at least {rule.min_samples} needed on each side); concurrent mode "
            "does not fall back to the baseline's earlier traffic"
        )
    return result


def minute_counts(side: Side) -> list[tuple[datetime, int]]:
    """The side's points per minute, from its rollups (the windows are whole minutes: counts are exact)."""
    return list(
        side.rollups.filter(minute__gte=side.start, minute__lt=side.end)
        .order_by("minute")
        .values_list("minute", "count")
    )


def _values(side: Side) -> tuple[np.ndarray, int]:
    """The window's values and its exact point count (from the rollups: the window is whole minutes)."""
    per_minute = minute_counts(side)
    return read_window(side, per_minute).values, sum(count for _, count in per_minute)


def sample_plan(per_minute: list[tuple[datetime, int]]) -> tuple[list[datetime], int] | None:
    """None when the whole window is read; else the minutes sampled and the points read from each at most."""
    if sum(count for _, count in per_minute) <= MAX_JUDGED_VALUES:
        return None
    minutes = sorted({minute for minute, _ in per_minute})
    minutes = minutes[:: math.ceil(len(minutes) / SAMPLED_MINUTES)]
    return minutes, math.ceil(MAX_JUDGED_VALUES / len(minutes))


@dataclass(frozen=True)
class WindowRead:
    """The points read from one side's window: each one's time (int64 microseconds since the Unix epoch) and value,
    and the index of its chunk in `extra` (the chunk's `extra` fields, e.g. a label's value)."""

    stamps: np.ndarray
    values: np.ndarray
    owners: np.ndarray
    extra: list[tuple]


def read_window(side: Side, per_minute: list[tuple[datetime, int]], *, chunks: QuerySet | None = None,
                extra: tuple[str, ...] = ()) -> WindowRead:  # fmt: skip
    """The window's points, all of them up to MAX_JUDGED_VALUES points.

    Above that, a sample stratified by minute: the earliest points of each sampled minute, up to an equal number
    from each (at most SAMPLED_MINUTES evenly spaced minutes), so reading never scans the whole window: only the
    sampled minutes' chunks are read, and of each only its first `quota` points (a chunk is in time order). `chunks`
    narrows the side's chunks (e.g. annotated with a label) and defaults to all of them; one query.
    """
    start, end = side.start, side.end
    window = (side.chunks if chunks is None else chunks).filter(minute__gte=_floor_minute(start), minute__lt=end)
    plan = sample_plan(per_minute)
    if plan is None:
        rows = list(window.values_list(*extra, "stamps", "values"))
    else:
        minutes, quota = plan
        head = {field: Substr(field, 1, quota * 8, output_field=BinaryField()) for field in ("stamps", "values")}
        rows = list(
            window.filter(minute__in=minutes).annotate(**{f"{k}_head": v for k, v in head.items()})
            .values_list(*extra, "stamps_head", "values_head")
        )  # fmt: skip
    decoded = [points_of(row[-2], row[-1]) for row in rows] or [points_of(b"", b"")]
    stamps = np.concatenate([s for s, _ in decoded])
    values = np.concatenate([v for _, v in decoded])
    owners = np.repeat(np.arange(len(rows)), [len(s) for s, _ in decoded[: len(rows)]])
    inside = (stamps >= micros_of(start)) & (stamps < micros_of(end))
    stamps, values, owners = stamps[inside], values[inside], owners[inside]
    if plan is not None:
        order = np.argsort(stamps, kind="stable")
        stamps, values, owners = stamps[order], values[order], owners[order]
        _, first, minute_of = np.unique(stamps // MINUTE_US, return_index=True, return_inverse=True)
        earliest = np.arange(len(stamps)) - first[minute_of.ravel()] < plan[1]
        stamps, values, owners = stamps[earliest], values[earliest], owners[earliest]
    return WindowRead(stamps, values, owners, [row[:-2] for row in rows])


@dataclass(frozen=True)
class _Computation:
    now: datetime
    seen_version: int
    window_end: datetime
    final: bool
    started: float


def _report_store(
    deploy: Deploy,
    verdict: judge.Verdict,
    wins: dict[str, Windows],
    state: _Computation,
    extras: dict | None = None,
    *,
    layout: Windows,
    segments: dict[str, list[judge.Segment]],
) -> ImpactReport:
    data = verdict.to_dict()
    windows = {name: win.as_dict() for name, win in wins.items()}
    for metric in data["metrics"]:
        win = wins.get(metric["name"])
        metric["windows"] = windows.get(metric["name"])
        metric.update(win.named() if win else {"mode": layout.mode, "baseline_window": None, "current_window": None})
        metric.update((extras or {}).get(metric["name"], {}))
    with transaction.atomic():
        report, _ = ImpactReport.objects.select_for_update().get_or_create(deploy=deploy)
        report.verdict, report.score, report.final = verdict.verdict, verdict.score, state.final
        report.reasons, report.metrics, report.windows = data["reasons"], data["metrics"], windows
        named = layout.named()
        report.mode, report.baseline_window, report.current_window = (
            named["mode"], named["baseline_window"], named["current_window"]
        )  # fmt: skip
        report.segments = {key: [s.to_dict() for s in found] for key, found in segments.items()}
        report.computed_at = timezone.now()
        report.compute_ms = round((time.perf_counter() - state.started) * 1000, 1)
        report.claimed_at = None
        report.computed_version, report.window_ends_at = state.seen_version, state.window_end
        # Data that came in while this ran is still due, from when this computation started.
        report.requested_at = None if report.data_version == state.seen_version else state.now
        report.save()
    impact_report_computed.send(sender=ImpactReport, report=report)
    return report
