"""What the impact judge reads from metric sources: for a deploy and its windows, each configured query run over
the baseline and the current window, the samples as values, or the reason there are none.

The small interface `metrics.impact` uses (it names no model of this app): `queried_metrics(...)` returns plain
`QueriedMetric`s; the judge, its settings and the report stay impact's. Runs in the worker only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from deployments.models import Deploy
from metrics.sources import client, promql
from metrics.sources.models import MetricSource, SourceQuery
from metrics.sources.services import fetcher, request_headers, source_health_record
from tracker.crypto import UndecryptableSecret


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


@dataclass
class QueriedMetric:
    """One judged metric from a source: its judge settings, values per window, or `error` (then NoData)."""

    name: str
    query_name: str
    direction: str
    critical: bool
    allowed_change: float
    min_samples: int
    source: dict
    baseline: list[float] = field(default_factory=list)
    current: list[float] = field(default_factory=list)
    queries: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)
    # Per-minute rows for the chart: [minute ISO, deploy id, count, mean, min, max].
    chart: list[list] = field(default_factory=list)
    error: str = ""
    # The store was unreachable or failing: the report must not become final on this.
    transient: bool = False

    def report_fields(self) -> dict:
        body = {"source": self.source, "queries": self.queries, "chart": self.chart}
        return {**body, "series_labels": self.labels} if self.labels else body


def deploy_values(deploy: Deploy) -> dict[str, str]:
    """The placeholders' values for one deploy (its service and environment must be loaded)."""
    return {
        "service": deploy.service.name,
        "environment": deploy.environment.name,
        "version": deploy.version,
        "deploy": str(deploy.pk),
        "external_id": deploy.external_id or "",
        "commit_sha": deploy.commit_sha,
        "model_name": deploy.model_name,
        "model_version": deploy.model_version,
        "data_version": deploy.data_version,
    }


def queries_for(deploy: Deploy) -> list[SourceQuery]:
    return list(
        SourceQuery.objects.filter(source__project_id=deploy.project_id, service_id=deploy.service_id)
        .select_related("source")
        .order_by("source__name", "position")
    )


def queried_metrics(
    *, deploy: Deploy, baseline: Deploy | None, baseline_window: Window | None, current_window: Window
) -> list[QueriedMetric]:
    """Every query of the deploy's service, run for both windows. A source that failed to answer (unreachable,
    timed out) is not asked again in this computation: its other queries get the same reason at once, so a
    hanging store holds the worker for one timeout, not one per query."""
    broken: dict[int, client.QueryError] = {}
    results, outcome = [], defaultdict(list)
    for query in queries_for(deploy):
        metrics = _run(query, deploy, baseline, baseline_window, current_window, broken)
        outcome[query.source_id] += [m.error for m in metrics]
        results += metrics
    for source_id, errors in outcome.items():
        failed = [e for e in errors if e]
        source_health_record(source_id=source_id, error=failed[0] if failed else None)
    return results


def _run(
    query: SourceQuery,
    deploy: Deploy,
    baseline: Deploy | None,
    baseline_window: Window | None,
    current_window: Window,
    broken: dict[int, client.QueryError],
) -> list[QueriedMetric]:
    source = query.source
    metric = QueriedMetric(
        name=query.name, query_name=query.name, direction=query.direction, critical=query.critical,
        allowed_change=query.allowed_change, min_samples=query.min_samples,
        source={"id": source.pk, "name": source.name, "kind": source.kind},
    )  # fmt: skip
    try:
        if source.pk in broken:
            raise broken[source.pk]
        current = _window_series(source, query, deploy, current_window, metric.queries, "current")
        base = []
        if baseline is not None and baseline_window is not None:
            base = _window_series(source, query, baseline, baseline_window, metric.queries, "baseline")
    except client.QueryError as exc:
        if exc.transient:
            broken[source.pk] = exc
        metric.error, metric.transient = exc.reason, exc.transient
        return [metric]
    return _paired(metric, deploy, baseline, current, base, baseline_window, current_window)


def _window_series(
    source: MetricSource, query: SourceQuery, arm: Deploy, window: Window, calls: dict, arm_name: str
) -> list[client.Series]:
    """The arm's series in its window; the call is noted in `calls` first, so a failure still shows it."""
    try:
        rendered = promql.render(query.query, deploy_values(arm))
    except promql.TemplateError as exc:
        raise client.QueryError(f"the query cannot be filled in: {exc}") from None
    call = client.plan(rendered, start=window.start, end=window.end, step_seconds=query.step_seconds)
    calls[arm_name] = call.as_dict()
    try:
        headers = request_headers(source)
    except UndecryptableSecret as exc:
        raise client.QueryError(str(exc)) from None
    series = client.query_range(fetcher(source), source.url, call, headers=headers)
    return [client.Series(s.labels, *_in_window(s, window)) for s in series]


def _in_window(series: client.Series, window: Window) -> tuple[list[float], list[float]]:
    lo, hi = window.start.timestamp(), window.end.timestamp()
    kept = [(ts, v) for ts, v in zip(series.timestamps, series.values, strict=True) if lo <= ts < hi]
    return [ts for ts, _ in kept], [v for _, v in kept]


def _paired(
    metric: QueriedMetric,
    deploy: Deploy,
    baseline: Deploy | None,
    current: list[client.Series],
    base: list[client.Series],
    baseline_window: Window | None,
    current_window: Window,
) -> list[QueriedMetric]:
    """One series a side is one metric; several are paired by their labels (without the arm's own values)."""
    if len(current) == 1 and len(base) <= 1:
        return [_filled(metric, deploy, baseline, current[0], base[0] if base else None, {})]
    # The values that tell the two deploys apart (version, deploy id, commit…), not the ones they share.
    mine, theirs = deploy_values(deploy), deploy_values(baseline) if baseline else {}
    own_current = {v for k, v in mine.items() if v and v != theirs.get(k)}
    own_base = {v for k, v in theirs.items() if v and v != mine.get(k)}
    by_key = {client.label_key(s.labels, own_base): s for s in base}
    results = []
    for series in current:
        key = client.label_key(series.labels, own_current)
        labels = dict(key)
        name = metric.query_name + "{" + ",".join(f'{k}="{promql.escape(v)}"' for k, v in key) + "}"
        one = QueriedMetric(**{**metric.__dict__, "name": name, "queries": dict(metric.queries)})
        results.append(_filled(one, deploy, baseline, series, by_key.get(key), labels))
        if baseline is not None and key not in by_key:
            results[-1].error = "no baseline series has these labels"
    return results


def _filled(
    metric: QueriedMetric,
    deploy: Deploy,
    baseline: Deploy | None,
    current: client.Series,
    base: client.Series | None,
    labels: dict,
) -> QueriedMetric:
    metric.current, metric.labels = list(current.values), labels
    metric.chart = _per_minute(current, deploy.pk)
    if base is not None and baseline is not None:
        metric.baseline = list(base.values)
        metric.chart = _per_minute(base, baseline.pk) + metric.chart
    return metric


def _per_minute(series: client.Series, deploy_id: int) -> list[list]:
    """The samples as the charts draw pushed points: per minute, count, mean, min and max."""
    buckets: dict[int, list[float]] = defaultdict(list)
    for ts, value in zip(series.timestamps, series.values, strict=True):
        if value == value and abs(value) != float("inf"):
            buckets[int(ts // 60) * 60].append(value)
    return [
        [datetime.fromtimestamp(minute, UTC).isoformat(), deploy_id, len(v), sum(v) / len(v), min(v), max(v)]
        for minute, v in sorted(buckets.items())
    ]


def source_test(*, source: MetricSource, now: datetime, deploys: Iterable[Deploy]) -> dict:
    """Run each of the source's queries over the hour before `now` with its service's newest deploy's values:
    per query the series count, the sample count and the first error (what the settings page shows)."""
    newest = {d.service_id: d for d in deploys}
    window = Window(now.replace(microsecond=0) - _HOUR, now.replace(microsecond=0))
    rows, first_error, asked, broken = [], "", False, None
    for query in source.queries.select_related("service").order_by("position"):
        row = {"service": query.service.name, "name": query.name, "series": 0, "samples": 0, "error": ""}
        deploy = newest.get(query.service_id)
        try:
            if broken is not None:  # a store that did not answer is not asked again (one timeout, not one per query)
                raise broken
            if deploy is None:
                raise client.QueryError(f"service {query.service.name} has no deploy yet to fill the placeholders")
            asked, calls = True, {}
            series = _window_series(source, query, deploy, window, calls, "test")
            row.update(series=len(series), samples=sum(len(s.values) for s in series), query=calls["test"])
        except client.QueryError as exc:
            row["error"] = exc.reason
            first_error = first_error or f"{query.name}: {exc.reason}"
            broken = exc if exc.transient else broken
        rows.append(row)
    if asked:  # the store's health only when the store was asked
        source_health_record(source_id=source.pk, error=first_error or None, at=now)
    return {"finished_at": now.isoformat(), "queries": rows, "first_error": first_error}


_HOUR = timedelta(hours=1)
