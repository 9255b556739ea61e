"""Segments: a deploy judged per value of the label keys its service names (`segment_labels`, e.g. region).

Per label key, the values carried by most of this deploy's points in its current windows (at most
MAX_SEGMENTS_PER_LABEL, the largest by volume) are each judged like the whole deploy: the same windows and
mode, the same judge, on the points carrying that value only (labels are stored on each point, `labels` JSON).
Label values are compared as text. Queries per computation: per metric and side its per-minute counts once,
then per label key one read per metric and side (and one exact count when that side is sampled): bounded by
keys x metrics, whatever the number of segments or points.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from django.db.models import Count
from django.db.models.fields.json import KeyTextTransform

from deployments.analysis_settings import MAX_SEGMENTS_PER_LABEL
from deployments.models import Deploy
from metrics.impact.analysis import MAX_JUDGED_VALUES, Side, Windows, minute_counts, read_window, sides
from metrics.stats import impact as judge


def segments_judge(
    *,
    deploy: Deploy,
    keys: Sequence[str],
    windows: dict[str, Windows],
    rules: dict[str, judge.MetricRule],
    started: bool,
) -> dict[str, list[judge.Segment]]:
    """key -> its judged segments, worst first (an empty list when no point of the deploy carries the key)."""
    if not keys or not windows:
        return {key: [] for key in keys}
    arms = {name: sides(deploy, name, win) for name, win in windows.items()}
    counts = {(name, i): minute_counts(side) for name, pair in arms.items() for i, side in enumerate(pair) if side}
    return {key: _key_segments(key, arms, counts, rules, started) for key in keys}


def _key_segments(
    key: str,
    arms: dict[str, tuple[Side, Side | None]],
    counts: dict[tuple[str, int], list[tuple[datetime, int]]],
    rules: dict[str, judge.MetricRule],
    started: bool,
) -> list[judge.Segment]:
    current = {name: _by_value(key, pair[0], counts[(name, 0)]) for name, pair in arms.items()}
    volume: dict[str, int] = defaultdict(int)
    for groups in current.values():
        for value, (_, n) in groups.items():
            volume[value] += n
    top = sorted(volume, key=lambda v: (-volume[v], v))[:MAX_SEGMENTS_PER_LABEL]
    baseline = {
        name: _by_value(key, pair[1], counts[(name, 1)]) if pair[1] is not None else {} for name, pair in arms.items()
    }
    found = []
    for value in top:
        judgments = []
        for name in arms:
            b, nb = baseline[name].get(value, (np.empty(0), 0))
            c, nc = current[name].get(value, (np.empty(0), 0))
            if nb == 0 and nc == 0:
                continue  # this metric does not carry the label value
            result = judge.judge_metric(judge.segment_rule(rules[name], key, value), b, c, n_baseline=nb, n_current=nc)
            result.name = name
            judgments.append(result)
        found.append(judge.judge_segment(key, value, volume[value], judgments, started=started))
    return judge.worst_first(found)


def _by_value(key: str, side: Side, per_minute: list[tuple[datetime, int]]) -> dict[str, tuple[np.ndarray, int]]:
    """label value -> (the side's values carrying it, read whole or sampled like the metric; its exact count)."""
    labelled = side.points.filter(labels__has_key=key).annotate(segment=KeyTextTransform(key, "labels"))
    rows = read_window(side, per_minute, ("segment", "value"), points=labelled)
    groups: dict[str, list[float]] = defaultdict(list)
    for segment, value in rows:
        if segment is not None:
            groups[_text(segment)].append(value)
    exact = {value: len(values) for value, values in groups.items()}
    if sum(count for _, count in per_minute) > MAX_JUDGED_VALUES:  # a sample was read: count the window itself
        window = labelled.filter(ts__gte=side.start, ts__lt=side.end)
        exact = {
            _text(segment): n
            for segment, n in window.values("segment").annotate(n=Count("pk")).values_list("segment", "n")
            if segment is not None
        }
    return {value: (np.asarray(groups.get(value, []), dtype=np.float64), n) for value, n in exact.items()}


def _text(value: object) -> str:
    """A label value as text, as PostgreSQL's ->> writes it (true, false, numbers as written)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
