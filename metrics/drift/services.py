"""Writes for drift: ingest prediction samples into bounded sketches, compute and store drift reports."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from deployments.models import Deploy, Environment, Service
from metrics.drift import selectors
from metrics.drift.fairness_services import deploy_fairness, fairness_counts_merge
from metrics.drift.models import ColumnSketch, DriftReport, DriftSetting, QualitySketch, SampleBatch, SampleColumn
from metrics.predictions import MAX_FEATURES, Column, PredictionBatch
from metrics.shadow.services import shadow_samples_store
from metrics.stats import drift as stats_drift
from metrics.stats import sketch as sk
from tracker.counters import event_counts_statement
from tracker.errors import Invalid, Unprocessable
from tracker.models import Project
from tracker.services import audit_record
from tracker.sql import execute_together, insert_values


@dataclass
class IngestResult:
    rows: int
    deploys: dict[int, int] = field(default_factory=dict)  # deploy id -> rows attributed to it
    new_columns: list[str] = field(default_factory=list)
    duplicate: bool = False


INGESTED_ROWS = "deploy_tracker_ingested_rows"
INGESTED_BATCHES = "deploy_tracker_ingested_batches"


def samples_ingest(*, project: Project, batch: PredictionBatch) -> IngestResult:
    """Store a validated batch: learn new columns, merge it into each deploy's column sketches.

    All or nothing, in one transaction. Sketch rows are locked in a fixed order, so concurrent batches
    for the same deploy queue behind each other and merge; none of their counts is lost.
    """
    named = (
        None
        if batch.deploy is None
        else selectors.deploy_named_in(
            project=project, service=batch.service, environment=batch.environment, ref=batch.deploy
        )
    )
    if named is not None:  # the common case in one query: the deploy named, with its stream
        service, environment = named.service, named.environment
        row_deploys = np.full(batch.n_rows, named.pk, dtype=np.int64)
    else:
        service, environment = selectors.stream_get(
            project=project, service=batch.service, environment=batch.environment
        )
        if service is None or environment is None:
            raise Unprocessable(
                "post a deploy of this service and environment before its samples",
                code="unknown_stream",
                fields={"service" if service is None else "environment": ["no deploy has named this yet"]},
            )
        row_deploys = _attribute(service, environment, batch)
    with transaction.atomic():
        if batch.batch_id and not _remember_batch(project, batch):
            return IngestResult(rows=batch.n_rows, duplicate=True)
        columns, new_columns = _learn_columns(service, batch.columns)
        writes = _merge_batch(batch, columns, row_deploys)
        fairness_counts_merge(
            service=service, environment=environment, batch=batch, columns=columns, row_deploys=row_deploys
        )
        shadow_samples_store(batch=batch, row_deploys=row_deploys)
        deploy_ids = [int(d) for d in np.unique(row_deploys)]
        # The writes in one round trip: the merged sketches, the counters (counted if and only if the batch
        # commits) and, last for its RETURNING, the deploys whose drift this batch makes due.
        counts = event_counts_statement(
            (INGESTED_ROWS, batch.n_rows, {}), (INGESTED_BATCHES, 1, {"kind": "predictions"})
        )
        marked = execute_together([*writes, counts, _mark_due_statement(deploy_ids)])
        _drift_enqueue(sorted(row[0] for row in marked))
    counts = dict(zip(*np.unique(row_deploys, return_counts=True), strict=True))
    return IngestResult(rows=batch.n_rows, deploys={int(k): int(v) for k, v in counts.items()}, new_columns=new_columns)


def _attribute(service: Service, environment: Environment, batch: PredictionBatch) -> np.ndarray:
    """Per row, the deploy it belongs to: the one named in the batch, else the one live at its time."""
    if batch.deploy is not None:
        deploy = selectors.deploy_named(service=service, environment=environment, ref=batch.deploy)
        if deploy is None:
            raise Unprocessable(
                "no such deploy of this service and environment",
                code="unknown_deploy",
                fields={"deploy": ["no deploy of this service and environment has this id or version"]},
            )
        return np.full(batch.n_rows, deploy.pk, dtype=np.int64)
    row_deploys = selectors.deploys_live_at(service=service, environment=environment, timestamps=batch.timestamps)
    orphans = np.flatnonzero(row_deploys == 0)
    if len(orphans):
        raise Unprocessable(
            f"{len(orphans)} rows are older than the first deploy of this service and environment",
            code="no_live_deploy",
            fields={"timestamp": {str(i): ["no deploy was live at this time"] for i in orphans[:20]}},
        )
    return row_deploys


def _remember_batch(project: Project, batch: PredictionBatch) -> bool:
    """False if this batch_id was stored before (a retry): then nothing is counted twice."""
    try:
        with transaction.atomic():
            SampleBatch.objects.create(project=project, batch_id=batch.batch_id, rows=batch.n_rows)
    except IntegrityError:
        return False
    return True


def _column_key(column: Column | SampleColumn) -> tuple[str, str]:
    return column.role, column.name


def _learn_columns(service: Service, batch_columns: list[Column]) -> tuple[dict[tuple[str, str], SampleColumn], list]:
    """The service's columns for this batch, creating unseen ones; a value of the wrong kind is Unprocessable."""
    known = {_column_key(c): c for c in selectors.columns_of(service=service)}
    # Sorted: concurrent batches insert (and so lock) new columns in the same order, never crosswise.
    unseen = sorted((c for c in batch_columns if _column_key(c) not in known), key=_column_key)
    n_features = sum(1 for key in known if key[0] == "feature") + sum(1 for c in unseen if c.role == "feature")
    if n_features > MAX_FEATURES:
        raise Unprocessable(
            f"a service has at most {MAX_FEATURES} features", code="too_many_features", fields={"columns": ["too many"]}
        )
    if unseen:
        SampleColumn.objects.bulk_create(
            [SampleColumn(service=service, role=c.role, name=c.name, kind=c.kind) for c in unseen],
            ignore_conflicts=True,  # a concurrent batch may learn the same column first
        )
        known = {_column_key(c): c for c in selectors.columns_of(service=service)}
    wrong = {
        _field_name(c): [f"this column is {known[_column_key(c)].kind}, not {c.kind}"]
        for c in batch_columns
        if known[_column_key(c)].kind != c.kind
    }
    if wrong:
        raise Unprocessable("some values are not of their column's kind", code="wrong_kind", fields=wrong)
    return known, [_field_name(c) for c in unseen]


def _field_name(column: Column) -> str:
    return f"columns.{column.name}" if column.role == "feature" else column.role


def _merge_batch(
    batch: PredictionBatch, columns: dict[tuple[str, str], SampleColumn], row_deploys: np.ndarray
) -> list[tuple[str, list] | None]:
    """Merge the batch into the locked sketches; the statements that write them back (run by the caller)."""
    deploy_ids = [int(d) for d in np.unique(row_deploys)]
    rng = np.random.default_rng()
    # The batch's own sketches are built before any lock is taken: locks only cover the merge and the write.
    parts = {
        (d, columns[_column_key(c)].pk): _part_sketch(c, columns[_column_key(c)], row_deploys, d, len(deploy_ids), rng)
        for d in deploy_ids
        for c in batch.columns
    }
    locked = _sketches_lock(sorted(parts))
    # In column id order: freezing edges updates column rows, and concurrent batches must lock them alike.
    for stored_column in sorted({columns[_column_key(c)] for c in batch.columns}, key=lambda c: c.pk):
        _merge_column(stored_column, deploy_ids, parts, locked, rng)
    return [_sketches_statement(list(locked.values())), *_merge_pairs(batch, row_deploys, deploy_ids, rng)]


@dataclass(slots=True)
class _LockedSketch:
    """A locked ColumnSketch row: what the merge reads and writes back (no model instance: 27 a request)."""

    pk: int
    deploy_id: int
    column_id: int
    data: bytes | memoryview
    n: int
    nulls: int


def _sketches_lock(keys: list[tuple[int, int]]) -> dict[tuple[int, int], _LockedSketch]:
    """Create the missing sketch rows and lock every row this batch touches, always in (deploy, column) order
    (no deadlocks between batches), and read them: one upsert whose no-op update takes the row lock."""
    table = ColumnSketch._meta.db_table
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    # Only the table name is interpolated; every value is a parameter.
    sql = (
        f"INSERT INTO {table} (deploy_id, column_id, data, n, nulls, updated_at) "  # noqa: S608
        f"VALUES {', '.join(['(%s, %s, %s, 0, 0, %s)'] * len(keys))} "
        f"ON CONFLICT (deploy_id, column_id) DO UPDATE SET n = {table}.n "
        "RETURNING id, deploy_id, column_id, data, n, nulls"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for deploy_id, column_id in keys for value in (deploy_id, column_id, b"", now)])
        rows = [_LockedSketch(*row) for row in cursor.fetchall()]
    return {(row.deploy_id, row.column_id): row for row in rows}


def _merge_pairs(batch: PredictionBatch, row_deploys: np.ndarray, deploy_ids: list[int], rng) -> list[tuple[str, list]]:
    """Keep a sample of (prediction, label) pairs per deploy when both are numbers or true/false: the rows are
    locked and merged here, and written back by the statements returned."""
    by_role = {c.role: c for c in batch.columns}
    prediction, label = by_role.get("prediction"), by_role.get("label")
    if prediction is None or label is None or "categorical" in (prediction.kind, label.kind):
        return []
    both = prediction.present & label.present
    table, now = QualitySketch._meta.db_table, timezone.now()
    # Create the missing rows and lock them all in deploy order (a no-op update takes the lock): one statement.
    sql, params = insert_values([QualitySketch(deploy_id=d, data=b"") for d in sorted(deploy_ids)])
    sql += f" ON CONFLICT (deploy_id) DO UPDATE SET n = {table}.n RETURNING id, deploy_id, data"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        locked = [QualitySketch(id=pk, deploy_id=deploy_id, data=data) for pk, deploy_id, data in cursor.fetchall()]
    statements = []
    for row in locked:
        rows = both & (row_deploys == row.deploy_id)
        part = sk.pair_sketch(_as_numbers(prediction, rows), _as_numbers(label, rows), rng=rng)
        stored = sk.pairs_from_bytes(bytes(row.data)) if row.data else sk.PairSketch()
        merged = sk.merge_pairs(stored, part, rng=rng)
        statements.append(
            (
                f"UPDATE {table} SET data = %s, n = %s, updated_at = %s WHERE id = %s",  # noqa: S608
                [sk.pairs_to_bytes(merged), merged.n, connection.ops.adapt_datetimefield_value(now), row.pk],
            )
        )
    return statements


def _as_numbers(column: Column, rows: np.ndarray) -> np.ndarray:
    values = column.values[rows]
    return (values == "true").astype(float) if column.kind == "boolean" else values.astype(float)


def _part_sketch(
    column: Column, stored_column: SampleColumn, row_deploys: np.ndarray, deploy_id: int, n_deploys: int, rng
) -> sk.Sketch:
    if n_deploys == 1 and column.counts is not None:  # the whole batch: its values were counted at decoding
        return sk.categorical_sketch_of_counts(column.counts, nulls=len(column.present) - int(column.present.sum()))
    values, nulls = column.part(None if n_deploys == 1 else row_deploys == deploy_id)
    if column.kind == "numeric":
        return sk.numeric_sketch(values, nulls=nulls, edges=stored_column.edges_array(), rng=rng)
    return sk.categorical_sketch(values.tolist(), nulls=nulls)


def _sketches_statement(rows: list[_LockedSketch]) -> tuple[str, list] | None:
    """The statement that writes the merged sketches back: one for the whole batch (None without rows).

    bulk_update's CASE expression costs more than the sketches themselves, and one UPDATE per row is one round
    trip per row on PostgreSQL (27 for the peer data's columns: a third of a 10,000-row request): the rows travel
    as one `UPDATE … FROM (VALUES …)`, on SQLite too (3.33+)."""
    if not rows:
        return None
    table, now = ColumnSketch._meta.db_table, timezone.now()
    if connection.vendor == "postgresql":
        row, names = "(%s::bigint, %s::bytea, %s::bigint, %s::bigint, %s::timestamptz)", "v(id, data, n, nulls, at)"
        id_, data, n, nulls, at = ("v.id", "v.data", "v.n", "v.nulls", "v.at")
    else:  # SQLite names a VALUES list's columns column1, column2, …
        row, names = "(%s, %s, %s, %s, %s)", "v"
        id_, data, n, nulls, at = (f"v.column{i}" for i in range(1, 6))
    at_value = connection.ops.adapt_datetimefield_value(now)
    values = [(r.pk, bytes(r.data), r.n, r.nulls, at_value) for r in rows]
    # Only the table name is interpolated; every value is a parameter.
    sql = (
        f"UPDATE {table} AS s SET data = {data}, n = {n}, nulls = {nulls}, updated_at = {at} "  # noqa: S608
        f"FROM (VALUES {', '.join([row] * len(values))}) AS {names} WHERE s.id = {id_}"
    )
    return sql, [value for row in values for value in row]


def _merge_column(
    stored_column: SampleColumn,
    deploy_ids: list[int],
    parts: dict[tuple[int, int], sk.Sketch],
    locked: dict[tuple[int, int], _LockedSketch],
    rng: np.random.Generator,
) -> None:
    edges = stored_column.edges_array()
    merged: dict[int, sk.Sketch] = {}
    for deploy_id in deploy_ids:
        row = locked[(deploy_id, stored_column.pk)]
        try:
            stored = _stored_sketch(row, stored_column, edges)
        except sk.EdgesNeeded:
            # Binned on edges that a concurrent batch froze after this one read the column: they hold now (the
            # row lock waited for that batch's commit), and they never change once frozen.
            stored_column.refresh_from_db(fields=["edges"])
            edges = stored_column.edges_array()
            stored = _stored_sketch(row, stored_column, edges)
        merged[deploy_id] = sk.merge(stored, parts[(deploy_id, stored_column.pk)], edges=edges, rng=rng)
        fresh = getattr(merged[deploy_id], "edges", None)
        if edges is None and fresh is not None:
            edges = _freeze_edges(stored_column, fresh)
            if edges is not fresh:  # another batch froze different edges first: redo with those
                return _merge_column(stored_column, deploy_ids, parts, locked, rng)
    for deploy_id, sketch in merged.items():
        row = locked[(deploy_id, stored_column.pk)]
        row.data, row.n, row.nulls = sk.to_bytes(sketch, edges=edges), sketch.n, sketch.nulls
    return None


def _stored_sketch(row: _LockedSketch, column: SampleColumn, edges: np.ndarray | None) -> sk.Sketch:
    return sk.from_bytes(bytes(row.data), edges=edges) if row.data else sk.empty_sketch(_sketch_kind(column.kind))


def _sketch_kind(kind: str) -> str:
    return "numeric" if kind == "numeric" else "categorical"


def _freeze_edges(column: SampleColumn, edges: np.ndarray) -> np.ndarray:
    """Store the service column's edges unless a concurrent batch did first; return the ones that hold."""
    updated = SampleColumn.objects.filter(pk=column.pk, edges__isnull=True).update(edges=edges.astype("<f8").tobytes())
    if updated == 1:
        column.edges = edges.astype("<f8").tobytes()
        return edges
    column.refresh_from_db(fields=["edges"])
    return column.edges_array()


# --- drift reports -----------------------------------------------------------------------------


def drift_mark_due(*, deploy_id: int) -> None:
    """Ask for a recomputation; only the first request since the last claim enqueues the task."""
    _drift_enqueue([row[0] for row in execute_together([_mark_due_statement([deploy_id])])])


def _mark_due_statement(deploy_ids: list[int]) -> tuple[str, list]:
    """One upsert: open the reports already due, or mark them due unless they are; RETURNING names the ones
    this statement marked (inserted or changed). Sorted: concurrent batches lock the reports in one order."""
    now = timezone.now()
    sql, params = insert_values([DriftReport(deploy_id=d, due_at=now) for d in sorted(deploy_ids)])
    table = DriftReport._meta.db_table
    sql += f" ON CONFLICT (deploy_id) DO UPDATE SET due_at = excluded.due_at WHERE {table}.due_at IS NULL"
    return sql + " RETURNING deploy_id", params


def _drift_enqueue(deploy_ids: list[int]) -> None:
    from metrics.drift.tasks import drift_compute
    from tracker.enqueue import enqueue

    for deploy_id in deploy_ids:
        enqueue(drift_compute, deploy_id)


def drift_rebaseline(*, deploy_id: int) -> None:
    """A new baseline changes the judgement of a deploy that has samples: ask for a recomputation."""
    if ColumnSketch.objects.filter(deploy_id=deploy_id).exists():
        with transaction.atomic():
            drift_mark_due(deploy_id=deploy_id)


def drift_claim(*, deploy_id: int) -> bool:
    """Take a due recomputation; False if none is due (another worker took it, or nothing changed)."""
    return DriftReport.objects.filter(deploy_id=deploy_id, due_at__isnull=False).update(due_at=None) == 1


def drift_compute(*, deploy: Deploy) -> DriftReport:
    """Judge the deploy's samples against its baseline's and store the report (with every input)."""
    started = time.perf_counter()
    report, _ = DriftReport.objects.get_or_create(deploy=deploy)
    baseline = deploy.baseline
    if baseline is None:
        return _store_report(report, None, None, "no_baseline", started, deploy)
    columns = list(SampleColumn.objects.filter(service_id=deploy.service_id))
    sketches = selectors.deploy_sketches(deploy_ids=[deploy.pk, baseline.pk])
    if baseline.pk not in sketches:  # the baseline never posted samples: nothing to compare with
        return _store_report(report, None, baseline, "no_baseline", started, deploy)
    inputs = _column_inputs(columns, sketches.get(baseline.pk, {}), sketches.get(deploy.pk, {}))
    settings = selectors.drift_settings_for(service=deploy.service, columns=columns)
    result = stats_drift.drift_report(inputs, settings=settings, expected_drift=deploy.expected_drift or [])
    quality = selectors.realised_quality(deploy_ids=[baseline.pk, deploy.pk])
    fairness = deploy_fairness(deploy=deploy, baseline=baseline)
    return _store_report(report, result, baseline, "ok", started, deploy, quality, fairness)


def _column_inputs(
    columns: list[SampleColumn], ref: dict[int, sk.Sketch], cur: dict[int, sk.Sketch]
) -> list[stats_drift.ColumnInput]:
    inputs = []
    for column in columns:
        empty = sk.empty_sketch(_sketch_kind(column.kind))
        if column.pk not in ref and column.pk not in cur:
            continue
        inputs.append(
            stats_drift.ColumnInput(
                column=column.name if column.role == "feature" else column.role,
                kind=column.kind,
                ref=ref.get(column.pk, empty),
                cur=cur.get(column.pk, empty),
                role=column.role,
            )
        )
    return inputs


def _store_report(
    report: DriftReport,
    result: stats_drift.DriftReport | None,
    baseline: Deploy | None,
    status: str,
    started: float,
    deploy: Deploy,
    quality: dict[int, dict | None] | None = None,
    fairness: dict | None = None,
) -> DriftReport:
    now = timezone.now()
    report.baseline = baseline
    report.status = status
    if result is not None:
        report.n_columns, report.n_drifted, report.n_expected = result.n_columns, result.n_drifted, result.n_expected
        report.drift_share, report.dataset_drift = result.drift_share, result.dataset_drift
        report.prediction_drift_cause = result.prediction_drift_cause or ""
        report.result = result.as_dict()
        quality = quality or {}
        report.result["quality"] = {"baseline": quality.get(baseline.pk), "current": quality.get(deploy.pk)}
        if fairness is not None:
            report.result["fairness"] = fairness
    report.final = now >= deploy.deployed_at + timedelta(minutes=deploy.window_minutes)
    report.computed_at = now
    report.compute_ms = round((time.perf_counter() - started) * 1000, 2)
    report.save(
        update_fields=[
            "baseline",
            "status",
            "n_columns",
            "n_drifted",
            "n_expected",
            "drift_share",
            "dataset_drift",
            "prediction_drift_cause",
            "result",
            "final",
            "computed_at",
            "compute_ms",
        ]
    )
    return report


# --- drift settings ------------------------------------------------------------------------------

OVERRIDE_METHODS = sorted(stats_drift.METHODS)
CATEGORICAL_METHODS = ("chisquare", "chisquare_gof")


class SettingsInvalid(Invalid):
    """A drift setting from the form is out of range; the message says which, for the settings page."""


@dataclass(frozen=True)
class ColumnOverride:
    """A column's own test and threshold; "" and None leave it to the defaults."""

    method: str = ""
    threshold: float | None = None


def drift_settings_update(
    *,
    service: Service,
    drift_share: float,
    categorical_method: str,
    overrides: Mapping[int, ColumnOverride],
    user: AbstractBaseUser | None = None,
) -> None:
    """Save a service's drift share, categorical test and per-column overrides (by column id; a column not
    named goes back to the defaults)."""
    if not 0 < drift_share <= 1:
        raise SettingsInvalid("the drift share is a number above 0 and at most 1")
    if categorical_method not in CATEGORICAL_METHODS:
        raise SettingsInvalid("the categorical test is chisquare or chisquare_gof")
    columns = list(SampleColumn.objects.filter(service=service))
    for column in columns:
        override = overrides.get(column.pk, ColumnOverride())
        _check_override(column, override)
        column.method, column.threshold = override.method, override.threshold
    with transaction.atomic():
        DriftSetting.objects.update_or_create(
            service=service, defaults={"drift_share": drift_share, "categorical_method": categorical_method}
        )
        SampleColumn.objects.bulk_update(columns, ["method", "threshold"])
        audit_record(
            project=service.project,
            action="drift.settings_changed",
            user=user,
            target=service,
            details={"drift_share": drift_share, "categorical_method": categorical_method},
        )


def _check_override(column: SampleColumn, override: ColumnOverride) -> None:
    if override.method and override.method not in stats_drift.METHODS:
        raise SettingsInvalid(f"unknown method for {column.name}")
    threshold = override.threshold
    if threshold is not None and not (math.isfinite(threshold) and threshold > 0):
        raise SettingsInvalid(f"the threshold of {column.name} must be above 0")
