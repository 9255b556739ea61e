"""Counters of events (rejected webhooks, ingested points, task durations), kept in the database.

A Prometheus counter must add up every process that sees its events: several gunicorn workers and the
Celery worker's processes, which run in another container. prometheus_client's in-process counters would
each hold one process's share, and a scrape would get whichever worker answered; its multiprocess mode
needs one directory shared by all of them, which the web and worker containers do not have. The database
is what every process already shares (SQLite in the embedded mode too): one row per name and label set,
incremented by one `UPDATE … SET count = count + n` once the event's transaction has committed (an event
rolled back is not counted, and the row is locked for that one statement only). The ingest paths add their
counts inside the transaction that stores the batch instead (event_counts_statement: one upsert, no extra
round trip or commit per request). /metrics reads the rows at scrape time; they survive restarts, as
Prometheus expects of a counter.

Each app declares its counters with every value of their labels in its AppConfig.ready(), so a scrape
shows zeros for what has not happened yet.
"""

from __future__ import annotations

import bisect
import itertools
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric

from tracker.models import EventCount

logger = logging.getLogger(__name__)

# Seconds: from a quick send to the tasks' time limits.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, math.inf)


@dataclass
class _Declared:
    documentation: str
    labels: tuple[str, ...]
    values: dict[str, set[str]] = field(default_factory=dict)
    buckets: tuple[float, ...] | None = None


_declared: dict[str, _Declared] = {}


def counter_declare(
    name: str, documentation: str, labels: dict[str, Iterable[str]], *, buckets: Sequence[float] | None = None
) -> None:
    """Declare a counter (or, with buckets, a histogram) and the label values it shows as 0 until counted.
    Declared again (by another app), it gains that app's label values."""
    declared = _declared.setdefault(name, _Declared(documentation, tuple(labels), buckets=tuple(buckets or ()) or None))
    for label, values in labels.items():
        declared.values.setdefault(label, set()).update(values)


def _key(labels: dict[str, str]) -> str:
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def event_count(name: str, amount: float = 1, **labels: str) -> None:
    """Count `amount` events once the current transaction commits (at once outside one)."""
    if amount:
        key = _key(labels)
        transaction.on_commit(lambda: _add(name, key, amount, 0.0))


def event_counts_statement(*events: tuple[str, float, dict[str, str]]) -> tuple[str, list] | None:
    """The one statement that adds several events, each (name, amount, labels), to their counters.

    For the ingest paths, which count points and batches for every request: run it in the transaction that
    stores them (with the other statements, tracker.sql.execute_together), so the events are counted if and
    only if they are stored, without a second round trip and a second commit after it. The rows are locked
    until that commit, in (name, labels) order, so concurrent writers never wait for each other crosswise.
    None when there is nothing to count."""
    rows = sorted((name, _key(labels), amount) for name, amount, labels in events if amount)
    if not rows:
        return None
    table = EventCount._meta.db_table
    placeholders = ", ".join(["(%s, %s, %s, 0)"] * len(rows))
    # Only the table name is interpolated; every value is a parameter.
    sql = (
        f"INSERT INTO {table} (name, labels, count, total) VALUES {placeholders} "  # noqa: S608
        f"ON CONFLICT (name, labels) DO UPDATE SET count = {table}.count + excluded.count"
    )
    return sql, [value for row in rows for value in row]


def event_observe(name: str, value: float, **labels: str) -> None:
    """Observe a value of a declared histogram: one more event in its bucket, `value` added to the sum."""
    buckets = _declared[name].buckets or DURATION_BUCKETS
    le = buckets[min(bisect.bisect_left(buckets, value), len(buckets) - 1)]
    key = _key({**labels, "le": _le(le)})
    transaction.on_commit(lambda: _add(name, key, 1, value))


def _add(name: str, key: str, count: float, total: float) -> None:
    try:
        rows = EventCount.objects.filter(name=name, labels=key)
        if rows.update(count=F("count") + count, total=F("total") + total):
            return
        try:
            with transaction.atomic():
                EventCount.objects.create(name=name, labels=key, count=count, total=total)
        except IntegrityError:  # another process created the row first
            rows.update(count=F("count") + count, total=F("total") + total)
    except DatabaseError:
        # A lost count must never fail the request or the task it counts.
        logger.warning("could not count %s %s", name, key, exc_info=True)


def _le(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


def counter_families() -> list[Metric]:
    """Every declared counter and histogram, from the database, zeros included."""
    rows: dict[str, list[EventCount]] = {}
    for row in EventCount.objects.filter(name__in=list(_declared)).order_by("name", "labels"):
        rows.setdefault(row.name, []).append(row)
    families = []
    for name, declared in sorted(_declared.items()):
        build = _histogram if declared.buckets else _counter
        families.append(build(name, declared, rows.get(name, [])))
    return families


def _zeros(declared: _Declared) -> dict[tuple[str, ...], list[float]]:
    values = [sorted(declared.values.get(label, ())) for label in declared.labels]
    return {combination: [] for combination in itertools.product(*values)}


def _counter(name: str, declared: _Declared, rows: list[EventCount]) -> Metric:
    series = {labels: 0.0 for labels in _zeros(declared)}
    for row in rows:
        labels = json.loads(row.labels)
        series_key = tuple(labels.get(label, "") for label in declared.labels)
        series[series_key] = series.get(series_key, 0.0) + row.count
    family = CounterMetricFamily(name, declared.documentation, labels=declared.labels)
    for labels, value in sorted(series.items()):
        family.add_metric(list(labels), value)
    return family


def _histogram(name: str, declared: _Declared, rows: list[EventCount]) -> Metric:
    bounds = [_le(bound) for bound in declared.buckets or ()]
    series = {labels: ({bound: 0.0 for bound in bounds}, [0.0]) for labels in _zeros(declared)}
    for row in rows:
        labels = json.loads(row.labels)
        counts, total = series.setdefault(
            tuple(labels.get(label, "") for label in declared.labels), ({bound: 0.0 for bound in bounds}, [0.0])
        )
        counts[labels["le"]] = counts.get(labels["le"], 0.0) + row.count
        total[0] += row.total
    family = HistogramMetricFamily(name, declared.documentation, labels=declared.labels)
    for labels, (counts, total) in sorted(series.items()):
        cumulative = list(itertools.accumulate(counts[bound] for bound in bounds))
        family.add_metric(list(labels), list(zip(bounds, cumulative, strict=True)), total[0])
    return family
