"""Fairness: count each sensitive column's groups at ingest, and judge a deploy's groups against its baseline's.

The counts are additive (metrics.stats.fairness.GroupCounts), so storage is bounded by deploys x sensitive
columns x groups (at most MAX_GROUPS) x thresholds used, whatever the traffic. They are kept at the service's
classification threshold of the time: after the threshold changes, the report reads the counts kept at the
new one, i.e. samples posted after the change.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db import connection

from deployments.models import Deploy, Environment, Service
from metrics.drift.models import FairnessCount, SampleColumn
from metrics.predictions import Column, PredictionBatch
from metrics.stats import fairness as stats_fairness
from metrics.stats.fairness import COUNT_FIELDS, MAX_GROUPS, OTHER_GROUP, GroupCounts

GROUP_KINDS = ("categorical", "boolean")
SCORE_KINDS = ("numeric", "boolean")


def _floats(column: Column) -> np.ndarray:
    """Scores or labels as floats, NaN where missing."""
    if column.kind == "numeric":
        return column.values.astype(np.float64)
    return np.array([np.nan if v is None else float(v == "true") for v in column.values], dtype=np.float64)


def _binary_labels(column: Column | None) -> np.ndarray | None:
    if column is None or column.kind not in SCORE_KINDS:
        return None
    labels = _floats(column)
    labels[~np.isin(labels, (0.0, 1.0))] = np.nan  # only binary outcomes count towards TPR and FPR
    return labels


def fairness_counts_merge(
    *,
    service: Service,
    environment: Environment,
    batch: PredictionBatch,
    columns: dict[tuple[str, str], SampleColumn],
    row_deploys: np.ndarray,
) -> int:
    """Add a batch's group counts for the service's sensitive columns; returns the rows (groups) written.

    Called inside the ingest transaction after the column sketches are locked, so two batches of one deploy
    add their counts one after the other (and the group cap holds).
    """
    settings = service.analysis_settings(environment.pk)
    by_key = {(c.role, c.name): c for c in batch.columns}
    prediction = by_key.get(("prediction", "prediction"))
    if not settings.sensitive_columns or prediction is None or prediction.kind not in SCORE_KINDS:
        return 0
    sensitive = [
        by_key[("feature", name)]
        for name in settings.sensitive_columns
        if ("feature", name) in by_key and by_key[("feature", name)].kind in GROUP_KINDS
    ]
    if not sensitive:
        return 0
    scores, labels = _floats(prediction), _binary_labels(by_key.get(("label", "label")))
    threshold = float(settings.classification_threshold)
    counts: dict[tuple[int, int, str], GroupCounts] = {}
    for deploy_id in (int(d) for d in np.unique(row_deploys)):
        rows = row_deploys == deploy_id
        for column in sensitive:
            part = stats_fairness.group_counts(
                column.values[rows], scores[rows], labels[rows] if labels is not None else None, threshold=threshold
            )
            column_id = columns[("feature", column.name)].pk
            for group, value in part.items():
                counts[(deploy_id, column_id, group)] = value
    counts = _cap_groups(counts, threshold)
    _upsert(counts, threshold)
    return len(counts)


def _cap_groups(counts: dict[tuple[int, int, str], GroupCounts], threshold: float) -> dict:
    """Pool the groups beyond MAX_GROUPS per deploy and column into OTHER_GROUP."""
    pairs = {(d, c) for d, c, _ in counts}
    known: dict[tuple[int, int], set[str]] = {pair: set() for pair in pairs}
    stored = FairnessCount.objects.filter(
        deploy_id__in={d for d, _ in pairs}, column_id__in={c for _, c in pairs}, threshold=threshold
    ).values_list("deploy_id", "column_id", "group")
    for deploy_id, column_id, group in stored:
        if (deploy_id, column_id) in known:
            known[(deploy_id, column_id)].add(group)
    capped: dict[tuple[int, int, str], GroupCounts] = {}
    for (deploy_id, column_id, group), value in sorted(counts.items(), key=lambda kv: -kv[1].n):
        seen = known[(deploy_id, column_id)]
        if group not in seen and len(seen) >= MAX_GROUPS - 1:
            group = OTHER_GROUP
        seen.add(group)
        key = (deploy_id, column_id, group)
        capped[key] = capped[key] + value if key in capped else value
    return capped


def _upsert(counts: dict[tuple[int, int, str], GroupCounts], threshold: float) -> None:
    """One INSERT .. ON CONFLICT per group that adds to the stored counts (PostgreSQL and SQLite alike)."""
    if not counts:
        return
    qn = connection.ops.quote_name
    table = qn(FairnessCount._meta.db_table)
    names = ["deploy_id", "column_id", "group", "threshold", *COUNT_FIELDS]
    added = ", ".join(f"{qn(f)} = {table}.{qn(f)} + excluded.{qn(f)}" for f in COUNT_FIELDS)
    conflict = ", ".join(qn(f) for f in ("deploy_id", "column_id", "group", "threshold"))
    sql = (
        f"INSERT INTO {table} ({', '.join(qn(n) for n in names)}) VALUES ({', '.join(['%s'] * len(names))}) "  # noqa: S608
        f"ON CONFLICT ({conflict}) DO UPDATE SET {added}"
    )
    rows = [
        (deploy_id, column_id, group, threshold, *(getattr(value, f) for f in COUNT_FIELDS))
        for (deploy_id, column_id, group), value in sorted(counts.items())
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def deploy_fairness(*, deploy: Deploy, baseline: Deploy | None) -> dict[str, Any] | None:
    """The drift report's `fairness`: each sensitive column's groups for this deploy and its baseline, judged
    (one query); None when the service names no sensitive column."""
    settings = deploy.service.analysis_settings(deploy.environment_id)
    if not settings.sensitive_columns:
        return None
    threshold = float(settings.classification_threshold)
    ids = [deploy.pk] + ([baseline.pk] if baseline is not None else [])
    rows = FairnessCount.objects.filter(
        deploy_id__in=ids,
        column__service_id=deploy.service_id,
        column__name__in=settings.sensitive_columns,
        threshold=threshold,
    ).values_list("deploy_id", "column__name", "group", *COUNT_FIELDS)
    counts: dict[int, dict[str, dict[str, GroupCounts]]] = {pk: {} for pk in ids}
    for deploy_id, column, group, *values in rows:
        counts[deploy_id].setdefault(column, {})[group] = GroupCounts(*values)
    base = counts.get(baseline.pk, {}) if baseline is not None else {}
    columns = [
        stats_fairness.column_fairness(name, counts[deploy.pk].get(name, {}), base.get(name))
        for name in settings.sensitive_columns
    ]
    return stats_fairness.fairness_report(columns, classification_threshold=threshold)
