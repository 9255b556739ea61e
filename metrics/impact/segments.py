"""Segments: a deploy judged per value of the label keys its service names (`segment_labels`, e.g. region).

Per label key, the values carried by most of this deploy's points in its current windows (at most
MAX_SEGMENTS_PER_LABEL, the largest by volume) are each judged like the whole deploy: the same windows and
mode, the same judge, on the points carrying that value only (labels are stored on each chunk of points, `labels`
JSON).
Label values are compared as text. Queries per computation: per metric and side its per-minute counts once,
then per label key one read per metric and side (and above MAX_JUDGED_VALUES points, one query summing the chunks'
point counts by label value): bounded by keys x metrics, whatever the number of segments or points. Counts are exact:
the values judged are a sample above MAX_JUDGED_VALUES points per side, their counts never are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

import numpy as np
from django.db.models import Sum
from django.db.models.fields.json import KeyTextTransform

from deployments.analysis_settings import MAX_SEGMENTS_PER_LABEL
from deployments.models import Deploy
from metrics.impact.analysis import Side, Windows, minute_counts, read_window, sample_plan, sides
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
        segment = judge.judge_segment(key, value, volume[value], judgments, started=started)
        found.append(segment)
    return judge.worst_first(found)


def _by_value(key: str, side: Side, per_minute: list[tuple[datetime, int]]) -> dict[str, tuple[np.ndarray, int]]:
    """label value -> (the side's values carrying it, read whole or sampled like the metric; its exact count).

    Read whole, the count is the values read. Above MAX_JUDGED_VALUES the window was sampled by minute; the count
    is then the sum of the chunks' point counts per label value (a chunk holds one label set's points of one
    minute, and the window is whole minutes), so no point is decoded to count it.
    """
    labelled = side.chunks.filter(labels__has_key=key).annotate(segment=KeyTextTransform(key, "labels"))
    read = read_window(side, per_minute, chunks=labelled, extra=("segment",))
    # Each chunk's label value as a code (-1: none), then every point's by its chunk: one stable sort groups them.
    texts = sorted({_text(segment) for (segment,) in read.extra if segment is not None})
    code_of = {text: i for i, text in enumerate(texts)}
    chunk_codes = np.array([code_of[_text(s)] if s is not None else -1 for (s,) in read.extra], dtype=np.int64)
    codes = chunk_codes[read.owners] if len(read.owners) else np.empty(0, dtype=np.int64)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(texts) + 1))
    values = {
        text: read.values[order[bounds[i] : bounds[i + 1]]] for i, text in enumerate(texts) if bounds[i + 1] > bounds[i]
    }
    if sample_plan(per_minute) is None:
        return {text: (found, len(found)) for text, found in values.items()}
    window = labelled.filter(minute__gte=side.start, minute__lt=side.end)
    counts: dict[str, int] = defaultdict(int)
    for segment, count in window.values("segment").annotate(points=Sum("count")).values_list("segment", "points"):
        if segment is not None:
            counts[_text(segment)] += count
    return {text: (values.get(text, np.empty(0)), n) for text, n in counts.items()}


def _text(value: object) -> str:
    """A label value as text, as PostgreSQL's ->> writes it (true, false, numbers as written)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
