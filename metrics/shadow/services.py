"""Writes for shadow pairing: keep each pairing deploy's bottom-k sample of requests (metrics.stats.shadow)."""

from __future__ import annotations

from math import isnan

import numpy as np
from django.db import connection

from metrics.predictions import LABEL, PREDICTION, Column, PredictionBatch
from metrics.shadow import selectors
from metrics.shadow.models import ShadowSample, ShadowSampler
from metrics.stats import shadow as stats_shadow

# Rows per INSERT statement: 4 parameters each, well under SQLite's limit of 32,766.
INSERT_CHUNK = 1000


def shadow_samples_store(*, batch: PredictionBatch, row_deploys: np.ndarray) -> None:
    """Keep the batch's requests that fall in the sample of each deploy that pairs (a challenger, or the
    champion of one). Runs inside the ingest transaction: a refused batch keeps nothing.

    A request seen again keeps its first prediction; a label it carries fills in the stored one (labels often
    arrive later than predictions: post the request again with its label, prediction null or repeated).
    Numeric and true/false predictions and labels pair; text classes do not.
    """
    if batch.request_ids is None:
        return
    by_role = {c.role: c for c in batch.columns}
    predictions = _numbers(by_role.get(PREDICTION), batch.n_rows)
    if predictions is None:
        return
    labels = _numbers(by_role.get(LABEL), batch.n_rows)
    if labels is None:
        labels = np.full(batch.n_rows, np.nan)
    named = np.array([r is not None for r in batch.request_ids]) & ~(np.isnan(predictions) & np.isnan(labels))
    starts = selectors.pairing_starts(deploy_ids=[int(d) for d in np.unique(row_deploys[named])])
    if not starts:
        return
    hashes = np.zeros(batch.n_rows, dtype=np.int64)
    hashes[named] = stats_shadow.request_hashes([r for r, keep in zip(batch.request_ids, named, strict=True) if keep])
    ShadowSampler.objects.bulk_create(
        [ShadowSampler(deploy_id=d, cut=stats_shadow.NO_CUT) for d in sorted(starts)], ignore_conflicts=True
    )
    # Locked in deploy order, after the drift sketches: concurrent batches queue, never deadlock.
    for sampler in ShadowSampler.objects.select_for_update().filter(deploy_id__in=starts).order_by("deploy_id"):
        rows = named & (row_deploys == sampler.deploy_id) & (batch.timestamps >= starts[sampler.deploy_id])
        _keep(sampler, hashes[rows], predictions[rows], labels[rows])


def _numbers(column: Column | None, n_rows: int) -> np.ndarray | None:
    """float64 per row (NaN where null; true/false as 1/0), or None for a text column or none at all."""
    if column is None or column.kind == "categorical":
        return None
    if column.kind == "boolean":
        return np.where(column.present, column.values == "true", np.nan).astype(np.float64)
    return column.values


def _keep(sampler: ShadowSampler, hashes: np.ndarray, predictions: np.ndarray, labels: np.ndarray) -> None:
    """Merge one deploy's rows into its sample, then cut it back to the SAMPLE_SIZE smallest hashes."""
    size = stats_shadow.SAMPLE_SIZE
    below = hashes <= sampler.cut
    incoming = _distinct(hashes[below], predictions[below], labels[below])
    stored = dict(
        ShadowSample.objects.filter(deploy_id=sampler.deploy_id, request_hash__in=list(incoming)).values_list(
            "request_hash", "pk"
        )
    )
    labelled = [
        ShadowSample(pk=stored[h], label=label)
        for h, (_, label) in incoming.items()
        if h in stored and not isnan(label)
    ]
    ShadowSample.objects.bulk_update(labelled, ["label"], batch_size=1000)
    # New requests need a prediction; of those, no more than the sample can hold (the smallest hashes).
    fresh = sorted(h for h, (prediction, _) in incoming.items() if h not in stored and not isnan(prediction))[:size]
    _insert(sampler.deploy_id, [(h, *incoming[h]) for h in fresh])
    sampler.seen += int((~np.isnan(predictions)).sum())
    sampler.kept += len(fresh)
    if fresh and sampler.kept >= size:  # over the bound: cut back to the smallest hashes
        ordered = ShadowSample.objects.filter(deploy_id=sampler.deploy_id).order_by("request_hash")
        sampler.cut = ordered.values_list("request_hash", flat=True)[size - 1]
        ShadowSample.objects.filter(deploy_id=sampler.deploy_id, request_hash__gt=sampler.cut).delete()
        sampler.kept = size
    sampler.save(update_fields=["cut", "kept", "seen", "updated_at"])


def _distinct(hashes: np.ndarray, predictions: np.ndarray, labels: np.ndarray) -> dict[int, tuple[float, float]]:
    """Per request in the batch, its first prediction and its last label (NaN where none)."""
    out: dict[int, tuple[float, float]] = {}
    for h, prediction, label in zip(hashes.tolist(), predictions.tolist(), labels.tolist(), strict=True):
        first, last = out.get(h, (np.nan, np.nan))
        out[h] = (prediction if isnan(first) else first, last if isnan(label) else label)
    return out


def _insert(deploy_id: int, rows: list[tuple[int, float, float]]) -> None:
    """(hash, prediction, label or NaN) rows as plain multi-row INSERTs: model instances cost more than the rows."""
    table = ShadowSample._meta.db_table
    with connection.cursor() as cursor:
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            values = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
            sql = f"INSERT INTO {table} (deploy_id, request_hash, prediction, label) VALUES {values}"  # noqa: S608
            params = [v for h, prediction, label in chunk for v in (deploy_id, h, prediction, _null(label))]
            cursor.execute(sql, params)


def _null(value: float) -> float | None:
    return None if isnan(value) else value
