"""Reads for live metrics: impact reports, the gate's verdict, effective metric settings, chart series."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db import connection
from django.db.models import BooleanField, Case, ExpressionWrapper, F, Q, Sum, Value, When
from django.db.models.functions import TruncHour

from deployments.analysis_settings import DEFAULT_WARMUP_MINUTES
from deployments.models import Deploy, DeployCheck, Service
from deployments.selectors import required_checks_state
from metrics.impact.charts import DeployMark
from metrics.impact.models import ImpactReport, MetricRollup, MetricSetting
from metrics.stats.impact import (
    CONCURRENT,
    DEFAULT_ALLOWED_CHANGE,
    DEFAULT_MIN_SAMPLES,
    PENDING,
    SEQUENTIAL,
    default_direction,
)

# Charts show the last hours before the deploy (the baseline's judged window) and the deploy's first hours.
CHART_BEFORE = timedelta(hours=2)
CHART_AFTER = timedelta(hours=3)
# Around a judged window drawn on its own (a baseline days before the deploy).
CHART_MARGIN = timedelta(minutes=15)

CLASS_BADGES = {"Pass": "healthy", "High": "degraded", "Low": "degraded", "NoData": "insufficient_data"}
DIRECTION_WORDS = {"increase_is_bad": "increase is bad", "decrease_is_bad": "decrease is bad", "either": "any change"}


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
        "mode": report.mode if report else SEQUENTIAL,
        "baseline_window": report.baseline_window if report else None,
        "current_window": report.current_window if report else None,
        # A queried metric's per-minute chart rows are the page's, not the report's.
        "metrics": [_named_windows(m, report.mode) for m in report.metrics] if report else [],
        "segments": report.segments if report else {},
    }
    return body


def concurrent_comparison(*, challenger: Deploy) -> dict[str, Any] | None:
    """The challenger's impact when it was judged beside its champion in the same window (a canary, A/B or shadow
    deploy whose champion kept posting points): each metric's two arms over that window. None otherwise."""
    report = ImpactReport.objects.filter(deploy=challenger, mode=CONCURRENT, computed_at__isnull=False).first()
    if report is None:
        return None
    return {
        "verdict": report.verdict,
        "score": report.score,
        "final": report.final,
        "window": {k: datetime.fromisoformat(v) for k, v in (report.current_window or {}).items() if v},
        "metrics": [_named_windows(m, report.mode) for m in report.metrics],
        "segments": report.segments,
    }


# Final impact verdicts that let a deploy running beside its baseline be promoted.
PROMOTABLE_VERDICTS = frozenset({"healthy", "improved"})


def promotion_due(*, deploy: Deploy, answer: dict[str, Any], mode: str) -> bool:
    """The gate's `promote`: the deploy runs beside its baseline (canary, A/B, shadow or partial traffic) and its
    concurrent verdict (judged against the baseline's traffic in the same window) is final and healthy or improved;
    deploy_verdict asks only after the required checks passed."""
    return (
        deploy.runs_beside_baseline
        and deploy.baseline_id is not None
        and mode == CONCURRENT
        and answer["final"]
        and answer["verdict"] in PROMOTABLE_VERDICTS
    )


def _named_windows(metric: dict, mode: str) -> dict:
    """A metric entry without its chart rows, with `mode` and its named windows (derived from `windows` for a
    report stored before the names existed)."""
    entry = {k: v for k, v in metric.items() if k != "chart"}
    if "current_window" not in entry:
        spans = entry.get("windows") or {}
        named = {side: dict(zip(("start", "end"), spans.get(side) or [None, None], strict=False)) for side in
                 ("baseline", "current")}  # fmt: skip
        entry["mode"] = mode
        entry["baseline_window"] = named["baseline"] if named["baseline"].get("start") else None
        entry["current_window"] = named["current"] if named["current"].get("start") else None
    return entry


def deploy_verdict(*, deploy: Deploy) -> dict[str, Any]:
    """The gate: a rollback deploy answers `rollback` (rollbacks skip the promotion gate but are recorded); a deploy
    beside its baseline whose final verdict is good answers `promote`."""
    if deploy.is_rollback:
        return {
            "deploy": deploy.pk,
            "verdict": "rollback",
            "score": None,
            "final": True,
            "reasons": [f"{deploy.version} is a rollback; rollbacks skip the promotion gate"],
        }
    data = impact_report_data(deploy=deploy)
    answer = {key: data[key] for key in ("deploy", "verdict", "score", "final", "reasons", "computed_at")}
    required = deploy.service.analysis_settings(deploy.environment_id).required_checks
    if required:
        state = required_checks_state(required=required, checks=DeployCheck.objects.filter(deploy=deploy))
        answer |= _checks_gate(answer, state)
        answer["required_checks"] = state
    # After the checks: a canary is promoted only when its required checks passed as well.
    if promotion_due(deploy=deploy, answer=answer, mode=data.get("mode", SEQUENTIAL)):
        why = f"{deploy.version} runs beside its baseline and was judged {answer['verdict']}: promote it"
        answer.update(verdict="promote", reasons=[why, *answer["reasons"]])
    elif deploy.runs_beside_baseline and answer["final"] and answer["verdict"] in PROMOTABLE_VERDICTS:
        answer["reasons"] = [
            f"not promoted: {deploy.version} was judged sequentially (its baseline posted no points attributed to it "
            "in the same window), so nothing compared the two side by side",
            *answer["reasons"],
        ]
    return answer


def _checks_gate(answer: dict[str, Any], state: dict[str, str]) -> dict[str, Any]:
    """The service's required CI checks on top of the impact verdict: a failed one makes the gate `degraded`
    (reason names it); a missing one keeps it `pending` (not final) unless the impact verdict is degraded."""
    failed = [name for name, status in state.items() if status == "failed"]
    missing = [name for name, status in state.items() if status == "missing"]
    reasons = [f"required check {name} failed" for name in failed]
    reasons += [f"waiting for required check {name}" for name in missing]
    reasons += [f"required check {name} passed with a warning" for name, s in state.items() if s == "warning"]
    if failed:
        return {"verdict": "degraded", "reasons": reasons + answer["reasons"]}
    if missing and answer["verdict"] != "degraded":
        return {"verdict": "pending", "final": False, "reasons": reasons + answer["reasons"]}
    return {"reasons": reasons + answer["reasons"]}


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
            "unit": "",
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
        "unit": setting.unit,
        "configured": True,
    }


def metric_setting_row(*, setting: MetricSetting, service: Service) -> dict[str, Any]:
    return _setting_dict(service, setting.name, setting)


def metric_settings_effective(*, service: Service) -> list[dict[str, Any]]:
    """Every metric the service posted or configured, with its stored setting or the default (two queries)."""
    stored = {s.name: s for s in MetricSetting.objects.filter(service=service)}
    posted = set(MetricRollup.objects.filter(service=service).values_list("name", flat=True).distinct())
    return [_setting_dict(service, name, stored.get(name)) for name in sorted(posted | set(stored))]


def chart_series(
    *, deploy: Deploy, names: list[str], until: datetime, windows: list[dict] | None = None
) -> dict[str, list[tuple]]:
    """Per-minute rollups of each metric around the deploy and in the judged windows, across all deploys of
    its stream (one query). A baseline window days before the deploy is fetched on its own, not the days between.

    Rows: (minute, deploy_key, count, mean, min, max) in time order.
    """
    ranges = [(deploy.deployed_at - CHART_BEFORE, min(until, deploy.deployed_at + CHART_AFTER))]
    ranges += [(start - CHART_MARGIN, end + CHART_MARGIN) for start, end in _window_spans(windows or [])]
    in_ranges = Q()
    for start, end in ranges:
        in_ranges |= Q(minute__gte=start, minute__lte=end)
    rows = (
        MetricRollup.objects.filter(in_ranges, service_id=deploy.service_id, environment_id=deploy.environment_id)
        .filter(name__in=names)
        .order_by("name", "minute")
        .values_list("name", "minute", "deploy_key", "count", "total", "min_value", "max_value")
    )
    series: dict[str, list[tuple]] = {name: [] for name in names}
    for name, minute, deploy_key, count, total, low, high in rows:
        series[name].append((minute, deploy_key, count, total / count if count else None, low, high))
    return series


def _window_spans(windows: list[dict]) -> list[tuple[datetime, datetime]]:
    """Each side's judged span over all metrics (the report keeps them as ISO strings)."""
    spans = []
    for side in ("baseline", "current"):
        bounds = [(w or {}).get(side) or [None, None] for w in windows]
        starts = [datetime.fromisoformat(b[0]) for b in bounds if b[0]]
        ends = [datetime.fromisoformat(b[1]) for b in bounds if b[1]]
        if starts and ends:
            spans.append((min(starts), max(ends)))
    return spans


@dataclass(frozen=True)
class ImpactBadge:
    """A timeline row's impact badge."""

    verdict: str
    score: float | None
    final: bool
    # False when no metric was ever posted for the deploy or its baseline (nothing to judge, not too little).
    has_metrics: bool = True


def _no_metrics(prefix: str = "") -> Case:
    """Whether the report judged no metric at all; only asked of "insufficient_data" reports, so the database
    reads the large `metrics` column of those rows alone."""
    empty = ExpressionWrapper(Q(**{f"{prefix}metrics": []}), output_field=BooleanField())
    return Case(When(**{f"{prefix}verdict": "insufficient_data"}, then=empty), default=Value(False))


def impact_badges(*, deploy_ids: Iterable[int]) -> dict[int, ImpactBadge]:
    """deploy id -> its impact badge, for a page of timeline rows (one query; the large JSON columns left out)."""
    rows = (
        ImpactReport.objects.filter(deploy_id__in=list(deploy_ids))
        .annotate(no_metrics=_no_metrics())
        .values_list("deploy_id", "verdict", "score", "final", "no_metrics")
    )
    return {row[0]: ImpactBadge(*row[1:4], has_metrics=not row[4]) for row in rows}


def impact_badge_columns() -> dict[str, Any]:
    """A deploy query's annotations for its impact badge, the report joined in: a list of deploys (2,000 markers
    on the timeline) then needs no second query with its ids. `impact_badge_of` reads them back."""
    return {
        "impact_verdict": F("impact_report__verdict"),
        "impact_score": F("impact_report__score"),
        "impact_final": F("impact_report__final"),
        "impact_no_metrics": _no_metrics("impact_report__"),
    }


def impact_badge_of(columns: Mapping[str, Any]) -> ImpactBadge | None:
    """The badge from `impact_badge_columns` (a values() row, or a deploy's attributes); None without a report."""
    if columns["impact_verdict"] is None:
        return None
    return ImpactBadge(
        columns["impact_verdict"],
        columns["impact_score"],
        columns["impact_final"],
        has_metrics=not columns["impact_no_metrics"],
    )


# The report's own summary, as the section carries it.
SUMMARY_FIELDS = ("verdict", "score", "final", "computed_at", "compute_ms")


@dataclass(frozen=True)
class ImpactSection:
    """The deploy page's impact part: the judged report, a row per metric and the series its charts draw."""

    verdict: str
    score: float | None
    final: bool
    computed_at: datetime
    compute_ms: float | None
    reasons: list[str]
    rows: list[dict[str, Any]]
    # Per metric, the per-minute rollups around the deploy: (minute, deploy id, count, mean, min, max).
    series: dict[str, list[tuple]]
    deploy: DeployMark
    baseline: DeployMark | None
    mode: str = SEQUENTIAL
    # The report's windows as datetimes: {"start", "end"} or None.
    baseline_window: dict[str, datetime] | None = None
    current_window: dict[str, datetime] | None = None
    # (label key, its segments worst first: each {value, verdict, score, n, failed, reasons, metrics}).
    segments: tuple[tuple[str, list[dict[str, Any]]], ...] = ()


def _window(stored: dict | None) -> dict[str, datetime] | None:
    if not stored or not stored.get("start"):
        return None
    return {side: datetime.fromisoformat(stored[side]) for side in ("start", "end")}


def impact_section(*, deploy: Deploy, now: datetime) -> ImpactSection | None:
    """Three queries whatever the number of points: the report, the metrics' units, their per-minute rollups.

    None until the deploy is judged. `deploy.baseline` must be loaded (Deploy.objects.for_timeline()).
    """
    report = report_of(deploy)
    if report is None or report.computed_at is None:
        return None
    metrics = report.metrics or []
    names = [m["name"] for m in metrics]
    baseline = deploy.baseline
    windows = [m.get("windows") for m in metrics]
    units = dict(MetricSetting.objects.filter(service_id=deploy.service_id, name__in=names).values_list("name", "unit"))
    return ImpactSection(
        **{name: getattr(report, name) for name in SUMMARY_FIELDS},
        # Each metric's sentence is said once, in its table row: the list above the table keeps the rest.
        reasons=[r for r in report.reasons or [] if r not in {m.get("reason") for m in metrics}],
        rows=[_metric_row(m, i, units.get(m["name"], "")) for i, m in enumerate(metrics)],
        series=_series(deploy, metrics, names, now, windows),
        deploy=DeployMark(deploy.pk, deploy.version, deploy.deployed_at),
        baseline=DeployMark(baseline.pk, baseline.version, baseline.deployed_at) if baseline else None,
        mode=report.mode,
        baseline_window=_window(report.baseline_window),
        current_window=_window(report.current_window),
        segments=tuple((key, [_segment_row(s) for s in found]) for key, found in (report.segments or {}).items()),
    )


def _segment_row(segment: dict) -> dict[str, Any]:
    failing = [m for m in segment["metrics"] if m.get("failed")]
    return {**segment, "failing": [f"{m['name']} {m['classification']}" for m in failing]}


def _series(
    deploy: Deploy, metrics: list[dict], names: list[str], now: datetime, windows: list[dict] | None
) -> dict[str, list[tuple]]:
    """Pushed metrics from their rollups; a queried metric from the per-minute rows its report entry keeps
    (the store is queried by the worker only, never while a page renders)."""
    queried = {m["name"]: m.get("chart") or [] for m in metrics if m.get("source")}
    pushed = [name for name in names if name not in queried]
    series = chart_series(deploy=deploy, names=pushed, until=now, windows=windows) if pushed else {}
    for name, rows in queried.items():
        series[name] = [(datetime.fromisoformat(r[0]), *r[1:]) for r in rows]
    return series


def _metric_row(metric: dict, index: int, unit: str = "") -> dict[str, Any]:
    badge = "improved" if metric.get("improved") else CLASS_BADGES.get(metric["classification"], "pending")
    return {
        **metric,
        "index": index,
        "unit": unit,
        "badge": badge,
        "label": "Improved" if metric.get("improved") else metric["classification"],
        "direction_words": DIRECTION_WORDS.get(metric["direction"], metric["direction"]),
        "allowed_text": f"{metric['allowed_change'] * 100:g} %",
        "finding": _finding(metric.get("reason") or ""),
    }


def _finding(reason: str) -> str:
    """What the judge found, without the metric's name or the figures the row's columns already show:
    "latency_ms: significantly higher than baseline, mean 65.27 -> 86.08 …" → "significantly higher than baseline"."""
    found = reason.split(": ", 1)[-1]
    return found.split(", mean ", 1)[0] if ", mean " in found else found


@dataclass(frozen=True)
class CompareSide:
    """One deploy of a comparison: its verdict and, per metric, its judged window and per-minute means."""

    deploy: DeployMark
    verdict: str
    score: float | None
    final: bool
    windows: dict[str, list[str | None]]  # metric -> its current window [start, end] (ISO)
    series: dict[str, list[tuple]]  # metric -> (minute, deploy id, count, mean, min, max)


def compare_sides(*, deploys: list[Deploy], until: datetime) -> tuple[list[CompareSide], dict[str, str]]:
    """Both deploys' impact for the compare page in three queries: the reports, the units, the rollups of
    each deploy's own points over its judged windows. Also returns the metric names' units."""
    reports = {r.deploy_id: r for r in ImpactReport.objects.filter(deploy__in=deploys)}
    windows = {
        d.pk: {m["name"]: (m.get("windows") or {}).get("current") for m in _metrics(reports.get(d.pk))} for d in deploys
    }
    names = sorted({name for per in windows.values() for name in per})
    service_ids = {d.service_id for d in deploys}
    units = dict(
        MetricSetting.objects.filter(service_id__in=service_ids, name__in=names)
        .exclude(unit="")
        .values_list("name", "unit")
    )
    in_windows = Q(pk__in=[])
    for d in deploys:
        start = d.deployed_at - CHART_MARGIN
        end = max([_as_datetime(w[1]) for w in windows[d.pk].values() if w and w[1]] + [d.deployed_at]) + CHART_MARGIN
        in_windows |= Q(deploy_key=d.pk, minute__gte=start, minute__lte=min(end, until))
    series: dict[int, dict[str, list[tuple]]] = {d.pk: {} for d in deploys}
    rows = (
        MetricRollup.objects.filter(in_windows, name__in=names)
        .order_by("name", "minute")
        .values_list("name", "minute", "deploy_key", "count", "total", "min_value", "max_value")
    )
    for name, minute, key, count, total, low, high in rows:
        series[key].setdefault(name, []).append((minute, key, count, total / count if count else None, low, high))
    sides = [
        CompareSide(
            deploy=DeployMark(d.pk, d.version, d.deployed_at),
            verdict=reports[d.pk].verdict if d.pk in reports else PENDING,
            score=reports[d.pk].score if d.pk in reports else None,
            final=reports[d.pk].final if d.pk in reports else False,
            windows=windows[d.pk],
            series=series[d.pk],
        )
        for d in deploys
    ]
    return sides, units


def _metrics(report: ImpactReport | None) -> list[dict]:
    return (report.metrics or []) if report is not None else []


def _as_datetime(value: str) -> datetime:
    return datetime.fromisoformat(value)


# The distinct (environment, name) pairs of a service's rollups, one probe of the rollups' unique index
# (service, environment, name, minute, deploy) per pair: a DISTINCT would read every rollup of the service
# (~50,000 rows and 10 ms at 10 million points). Row values and recursive CTEs: PostgreSQL and SQLite alike.
_NEXT = (
    "SELECT {column} FROM {table} r WHERE r.service_id = %s AND (r.environment_id, r.name) > (s.environment_id, s.name)"
    " ORDER BY r.environment_id, r.name LIMIT 1"
)
_POSTED_NAMES = (
    "WITH RECURSIVE pairs(environment_id, name) AS ("
    " SELECT * FROM (SELECT environment_id, name FROM {table} WHERE service_id = %s"
    " ORDER BY environment_id, name LIMIT 1) first"
    " UNION ALL SELECT ({next_environment}), ({next_name}) FROM pairs s WHERE s.name IS NOT NULL"
    ") SELECT DISTINCT name FROM pairs WHERE name IS NOT NULL"
)


def service_metric_names(*, service: Service) -> list[str]:
    """Every metric the service has: posted (its rollups) or configured (its settings). Two queries."""
    table = MetricRollup._meta.db_table
    sql = _POSTED_NAMES.format(
        table=table,
        next_environment=_NEXT.format(column="r.environment_id", table=table),
        next_name=_NEXT.format(column="r.name", table=table),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [service.pk, service.pk, service.pk])
        posted = {row[0] for row in cursor.fetchall()}
    configured = MetricSetting.objects.filter(service=service).values_list("name", flat=True)
    return sorted(posted | set(configured))


def metric_trend(
    *, service: Service, name: str, since: datetime | None, until: datetime | None, hourly: bool
) -> dict[str, list[tuple[datetime, float]]]:
    """environment name -> (minute or hour, mean) of one metric of the service, in time order (one query)."""
    rollups = MetricRollup.objects.filter(service=service, name=name)
    if since:
        rollups = rollups.filter(minute__gte=since)
    if until:
        rollups = rollups.filter(minute__lt=until)
    bucket = TruncHour("minute") if hourly else F("minute")
    rows = (
        rollups.annotate(at=bucket)
        .values("environment__name", "at")
        .annotate(total=Sum("total"), count=Sum("count"))
        .order_by("environment__name", "at")
    )
    trend: dict[str, list[tuple[datetime, float]]] = {}
    for row in rows:
        if row["count"]:
            trend.setdefault(row["environment__name"], []).append((row["at"], row["total"] / row["count"]))
    return trend
