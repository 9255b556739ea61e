"""Writes for live metrics: ingest a validated batch (attribute, store, roll up), and metric settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from deployments.models import Deploy, Environment, Service, Status, Strategy
from deployments.services import environment_get_or_create, service_get_or_create
from metrics.impact.cardinality import series_admit
from metrics.impact.chunks import MINUTE_US, chunks_insert, chunks_of
from metrics.impact.models import ImpactReport, MetricBatch, MetricRollup, MetricSetting
from metrics.points import PointBatch, PointsInvalid, group_rows
from metrics.stats.impact import default_direction
from tracker.counters import event_counts_statement
from tracker.models import ApiToken, Project
from tracker.services import audit_record
from tracker.sql import execute_together, insert_values

# Deploys that served traffic at some time: points are attributed to the one live at their timestamp.
LIVE_STATUSES = (Status.SUCCEEDED, Status.ROLLED_BACK, Status.IN_PROGRESS)
# How many of a stream's most recent deploys are candidates when attributing a batch.
ATTRIBUTION_CANDIDATES = 500


@dataclass
class IngestResult:
    accepted: int
    duplicate: bool = False
    deploys: dict[int, int] = field(default_factory=dict)


INGESTED_POINTS = "deploy_tracker_ingested_points"
INGESTED_BATCHES = "deploy_tracker_ingested_batches"


def points_ingest(*, project: Project, batch: PointBatch, may_create_streams: bool = False) -> IngestResult:
    """Store a valid batch all-or-nothing; a batch_id seen before stores nothing and says so.

    Raises PointsInvalid (per-index errors) for unknown services/environments/deploys, and its
    CardinalityExceeded for series beyond the caps; nothing is stored.
    Only callers allowed to create services and environments (an admin token) pass may_create_streams.
    """
    with transaction.atomic():
        if batch.batch_id and not _batch_claim(project, batch):
            return IngestResult(accepted=0, duplicate=True)
        services, environments, live = _streams_resolve(project, batch, may_create=may_create_streams)
        series_admit(project=project, batch=batch, service_ids=services)
        deploy_ids = _attribute(project, batch, services, environments, live)
        chunks_insert(project.pk, batch, chunks_of(batch, services, environments, deploy_ids))
        touched = {int(d): int(c) for d, c in zip(*np.unique(deploy_ids, return_counts=True), strict=True) if d}
        # The rest in one round trip: the rollups, the counters (counted if and only if the batch commits: a
        # refused or duplicate batch is not ingested) and, last for its RETURNING, the recompute requests.
        due = execute_together(
            [
                _rollups_statement(project, batch, services, environments, deploy_ids),
                event_counts_statement((INGESTED_POINTS, len(batch), {}), (INGESTED_BATCHES, 1, {"kind": "metrics"})),
                _recompute_statement(list(touched)),
            ]
        )
        _recompute_enqueue(sorted(row[0] for row in due if row[1]) if touched else [])
    return IngestResult(accepted=len(batch), deploys=touched)


def _batch_claim(project: Project, batch: PointBatch) -> bool:
    """Record the batch id; False when it was already stored.

    One statement, no savepoint (a look-up, then an insert in a savepoint, were four round trips for every batch
    the CLI posts): the unique constraint settles races, a concurrent batch with the same id waiting for the
    first one's transaction to end, then inserting only if that one rolled back."""
    sql, params = insert_values([MetricBatch(project=project, batch_id=batch.batch_id, points=len(batch))])
    return bool(execute_together([(f"{sql} ON CONFLICT (project_id, batch_id) DO NOTHING RETURNING id", params)]))


# A stream's live-deploy candidates: (deploy ids, their deployed_at as epoch seconds), oldest first.
Candidates = tuple[np.ndarray, np.ndarray]


def _streams_resolve(
    project: Project, batch: PointBatch, *, may_create: bool
) -> tuple[np.ndarray, np.ndarray, dict[tuple[int, int], Candidates]]:
    """Service and environment ids per point, and each stream's live-deploy candidates: one query for all of it.
    Only an admin token may create services and environments (a stream created now has no deploy)."""
    wanted = {"service": set(batch.services), "environment": set(batch.environments)}
    streams = _stream_latest(batch, wanted["service"], wanted["environment"])
    known, candidates = _stream_lookup(project, streams)
    creators = {"service": service_get_or_create, "environment": environment_get_or_create}
    ids = {}
    for field_name, names in (("service", batch.services), ("environment", batch.environments)):
        missing = wanted[field_name] - set(known[field_name])
        if missing and may_create:
            create = creators[field_name]
            known[field_name].update({name: create(project=project, name=name).pk for name in sorted(missing)})
        elif missing:
            errors = {
                str(i): {field_name: [f"unknown {field_name} '{name}': register it with a deploy event first"]}
                for i, name in enumerate(names)
                if name in missing
            }
            raise PointsInvalid(f"{len(errors)} points name an unknown {field_name}", {"points": errors})
        if len(wanted[field_name]) == 1:
            ids[field_name] = np.full(len(names), known[field_name][names[0]], dtype=np.int64)
        else:
            ids[field_name] = np.fromiter(map(known[field_name].__getitem__, names), dtype=np.int64, count=len(names))
    live = {
        (known["service"][service], known["environment"][environment]): candidates[i]
        for i, (service, environment, _) in enumerate(streams)
        if i in candidates
    }
    return ids["service"], ids["environment"], live


def _stream_latest(batch: PointBatch, services: set[str], environments: set[str]) -> list[tuple[str, str, float]]:
    """The batch's streams by name (service, environment) with the latest timestamp of each."""
    if len(services) == 1 and len(environments) == 1:  # the usual batch: one stream, no pairing per point
        return [(next(iter(services)), next(iter(environments)), float(batch.timestamps.max()))]
    pairs = list(zip(batch.services, batch.environments, strict=True))
    distinct = list(dict.fromkeys(pairs))
    code_of = {pair: i for i, pair in enumerate(distinct)}
    codes = np.fromiter(map(code_of.__getitem__, pairs), dtype=np.int64, count=len(pairs))
    latest = np.full(len(distinct), -np.inf)
    np.maximum.at(latest, codes, batch.timestamps)
    return [(service, environment, float(at)) for (service, environment), at in zip(distinct, latest, strict=True)]


def _stream_lookup(
    project: Project, streams: list[tuple[str, str, float]]
) -> tuple[dict[str, dict[str, int]], dict[int, Candidates]]:
    """The project's services and environments of these names, by name, and per stream (by its index) the deploys
    that may have been live at its points: the latest ATTRIBUTION_CANDIDATES that served traffic (a shadow deploy
    serves none) deployed at or before the stream's latest point. One round trip (plain SQL: the ORM's compilation
    cost more than the queries); a stream whose service or environment is unknown finds no deploy."""
    tables = (Service._meta.db_table, Environment._meta.db_table, Deploy._meta.db_table)
    service_table, environment_table, deploy_table = tables
    adapt = connection.ops.adapt_datetimefield_value
    statuses = [status.value for status in LIVE_STATUSES]
    marks = ", ".join(["%s"] * len(statuses))
    parts, params = [], []
    # The deploys first: their columns' types carry the union's (the name rows have no time).
    for i, (service, environment, latest) in enumerate(streams):
        parts.append(
            f"SELECT 'deploy', '', id, deployed_at, {i} FROM (SELECT id, deployed_at FROM {deploy_table} "  # noqa: S608
            f"WHERE service_id = (SELECT id FROM {service_table} WHERE project_id = %s AND name = %s) "
            f"AND environment_id = (SELECT id FROM {environment_table} WHERE project_id = %s AND name = %s) "
            f"AND status IN ({marks}) AND strategy <> %s AND deployed_at <= %s "
            f"ORDER BY deployed_at DESC, id DESC LIMIT %s) d{i}"
        )
        latest_at = adapt(datetime.fromtimestamp(latest, tz=UTC))
        params += [project.pk, service, project.pk, environment, *statuses, Strategy.SHADOW.value, latest_at,
                   ATTRIBUTION_CANDIDATES]  # fmt: skip
    for kind, table, names in (
        ("service", service_table, sorted({service for service, _, _ in streams})),
        ("environment", environment_table, sorted({environment for _, environment, _ in streams})),
    ):
        placeholders = ", ".join(["%s"] * len(names))
        sql = f"SELECT '{kind}', name, id, NULL, -1 FROM {table} WHERE project_id = %s AND name IN ({placeholders})"  # noqa: S608
        parts.append(sql)
        params += [project.pk, *names]
    known: dict[str, dict[str, int]] = {"service": {}, "environment": {}}
    deploys: dict[int, list[tuple[int, datetime]]] = {}
    with connection.cursor() as cursor:
        # Only kinds, stream indexes, the models' table names and placeholders are interpolated; every value is a
        # parameter.
        cursor.execute(" UNION ALL ".join(parts), params)
        for kind, name, pk, at, stream in cursor.fetchall():
            if kind == "deploy":
                deploys.setdefault(stream, []).append((pk, at))
            else:
                known[kind][name] = pk
    return known, {stream: _candidates(rows) for stream, rows in deploys.items()}


def _candidates(rows: list[tuple[int, datetime | str]]) -> Candidates:
    """Deploy ids and their times as epoch seconds, oldest first (SQLite gives the stored UTC time as text or
    without its zone)."""
    times = []
    for _, at in rows:
        moment = parse_datetime(at) if isinstance(at, str) else at
        times.append((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
    order = np.lexsort((np.array([pk for pk, _ in rows], dtype=np.int64), np.array(times)))
    return np.array([pk for pk, _ in rows], dtype=np.int64)[order], np.array(times)[order]


def _attribute(
    project: Project,
    batch: PointBatch,
    services: np.ndarray,
    environments: np.ndarray,
    live: dict[tuple[int, int], Candidates],
) -> np.ndarray:
    """The deploy of each point: the one it names, else the one live in its stream at its timestamp (0: none).
    A shadow deploy serves no traffic: only points that name it are its own."""
    deploy_ids = np.zeros(len(batch), dtype=np.int64)
    streams = services * 1_000_003 + environments
    for key in np.unique(streams):
        idx = np.flatnonzero(streams == key)
        candidates = live.get((int(services[idx[0]]), int(environments[idx[0]])))
        if candidates is not None:
            ids, times = candidates
            deploy_ids[idx] = np.concatenate(([0], ids))[np.searchsorted(times, batch.timestamps[idx], side="right")]
    named = [i for i, ref in enumerate(batch.deploys) if ref is not None]
    if named:
        deploy_ids[named] = _named_deploys(project, batch, named, services, environments)
    return deploy_ids


def _named_deploys(
    project: Project, batch: PointBatch, named: list[int], services: np.ndarray, environments: np.ndarray
) -> list[int]:
    """Resolve `deploy` references (id or version) within the point's own service and environment."""
    refs = [batch.deploys[i] for i in named]
    by_id = {
        row[0]: row
        for row in Deploy.objects.filter(project=project, pk__in=[r for r in refs if isinstance(r, int)]).values_list(
            "id", "service_id", "environment_id"
        )
    }
    by_version = {}
    versions = [r for r in refs if isinstance(r, str)]
    if versions:
        for row in (
            Deploy.objects.filter(project=project, version__in=versions)
            .order_by("deployed_at", "id")
            .values_list("id", "service_id", "environment_id", "version")
        ):
            by_version[(row[1], row[2], row[3])] = row[0]  # the latest deploy of that version wins
    out, errors = [], {}
    for i, ref in zip(named, refs, strict=True):
        sid, eid = int(services[i]), int(environments[i])
        if isinstance(ref, int):
            row = by_id.get(ref)
            found = row[0] if row and (row[1], row[2]) == (sid, eid) else None
        else:
            found = by_version.get((sid, eid, ref))
        if found is None:
            errors[str(i)] = {"deploy": [f"no deploy {ref!r} of this service and environment"]}
        out.append(found or 0)
    if errors:
        raise PointsInvalid(f"{len(errors)} points name an unknown deploy", {"points": errors})
    return out


def _rollups_statement(
    project: Project, batch: PointBatch, services: np.ndarray, environments: np.ndarray, deploy_ids: np.ndarray
) -> tuple[str, list]:
    """Add the batch to the per-minute rollups with one upsert (increments, so concurrent batches add up)."""
    name_list, name_codes = batch.name_codes
    minutes = batch.micros // MINUTE_US * 60  # the minutes of the chunks (metrics.impact.chunks)
    keys, inverse = group_rows((services, environments, name_codes, minutes, deploy_ids))
    size, values = len(keys), batch.values
    counts = np.bincount(inverse, minlength=size)
    totals = np.bincount(inverse, weights=values, minlength=size)
    with np.errstate(over="ignore"):  # beyond ~1.3e154 a square is inf, as PostgreSQL's float8 would make it
        squares = np.bincount(inverse, weights=values**2, minlength=size)
    mins, maxs = np.full(size, np.inf), np.full(size, -np.inf)
    np.minimum.at(mins, inverse, values)
    np.maximum.at(maxs, inverse, values)
    if connection.vendor == "postgresql":
        names = [name_list[code] for code in keys[:, 2].tolist()]
        stamps = np.char.add(np.datetime_as_string(keys[:, 3].astype("datetime64[s]")), "Z").tolist()
        columns = [np.full(size, project.pk), keys[:, 0], keys[:, 1], names, stamps, keys[:, 4], counts, totals,
                   squares, mins, maxs]  # fmt: skip
        return _rollup_sql_arrays(columns)
    adapt = connection.ops.adapt_datetimefield_value
    rows = [
        (project.pk, int(k[0]), int(k[1]), name_list[int(k[2])], adapt(datetime.fromtimestamp(int(k[3]), tz=UTC)),
         int(k[4]), int(counts[j]), float(totals[j]), float(squares[j]), float(mins[j]), float(maxs[j]))
        for j, k in enumerate(keys)
    ]  # fmt: skip
    return _rollup_sql(rows)


_ROLLUP_COLUMNS = (
    "project_id, service_id, environment_id, name, minute, deploy_key, count, total, total_squares, min_value, "
    "max_value"
)
_ROLLUP_TYPES = ("bigint", "bigint", "bigint", "varchar", "timestamptz", "bigint", "bigint", "float8", "float8",
                 "float8", "float8")  # fmt: skip


def _rollup_sql_arrays(columns: list) -> tuple[str, list]:
    """PostgreSQL: the rows as one array literal per column, unnested. The statement's text and plan stay the
    same size whatever the number of rows (a VALUES list of hundreds of parameters cost more to parse and plan
    than to run), and each array is one parameter."""
    sql = f"INSERT INTO {MetricRollup._meta.db_table} ({_ROLLUP_COLUMNS}) SELECT * FROM unnest(" + ", ".join(  # noqa: S608
        f"%s::{kind}[]" for kind in _ROLLUP_TYPES
    )
    return sql + ") " + _rollup_conflict("LEAST", "GREATEST"), [_array_literal(column) for column in columns]


def _array_literal(column) -> str:
    """A PostgreSQL array literal of numbers (repr: exact for floats, `inf` included) or of strings that hold no
    quote or backslash (metric names are validated; times are ISO 8601), every element quoted."""
    items = column.tolist() if isinstance(column, np.ndarray) else column
    return '{"' + '","'.join(map(repr, items) if items and type(items[0]) is float else map(str, items)) + '"}'


def _rollup_conflict(least: str, greatest: str) -> str:
    table = MetricRollup._meta.db_table
    return (
        f"ON CONFLICT (service_id, environment_id, name, minute, deploy_key) DO UPDATE SET "
        f"count = {table}.count + excluded.count, total = {table}.total + excluded.total, "
        f"total_squares = {table}.total_squares + excluded.total_squares, "
        f"min_value = {least}({table}.min_value, excluded.min_value), "
        f"max_value = {greatest}({table}.max_value, excluded.max_value)"
    )


def _rollup_sql(rows: list[tuple]) -> tuple[str, list]:
    table = MetricRollup._meta.db_table
    placeholders = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows))
    # Only the table name and function names are interpolated; every value is a parameter.
    sql = (
        f"INSERT INTO {table} ({_ROLLUP_COLUMNS}) VALUES {placeholders} "  # noqa: S608
        + _rollup_conflict("MIN", "MAX")
    )
    return sql, [value for row in rows for value in row]


def impact_request(*, deploy_ids: list[int]) -> None:
    """Ask for a recomputation of these deploys' impact: new data arrived, or their baseline was (re)linked.

    In the caller's transaction, so the request commits with the data (see _recompute_statement)."""
    if not deploy_ids:
        return
    _recompute_enqueue([row[0] for row in execute_together([_recompute_statement(deploy_ids)]) if row[1]])


def _recompute_statement(deploy_ids: list[int]) -> tuple[str, list] | None:
    """The upsert that asks for a recomputation of the touched deploys, and whose RETURNING says which of them
    to send a message for (None without deploys).

    Every request bumps the open report's data_version (the sweep finds reports whose data changed since their
    computation, however many messages are lost) and the first one since the last computation starts the clock
    the sweep orders by (requested_at). At most one message per deploy waits in the queue: one is sent only when
    none was sent since the last claim (sent_at). Points may arrive before the deploy task opened the report: the
    upsert opens it. Final reports are left alone. Sorted, so concurrent batches lock the reports in one order."""
    if not deploy_ids:
        return None
    now = timezone.now()
    ids = sorted(set(deploy_ids))
    sql, params = insert_values([ImpactReport(deploy_id=d, requested_at=now, sent_at=now, data_version=1) for d in ids])
    table = ImpactReport._meta.db_table
    sql += (
        f" ON CONFLICT (deploy_id) DO UPDATE SET data_version = {table}.data_version + 1, "
        f"requested_at = COALESCE({table}.requested_at, excluded.requested_at), "
        f"sent_at = COALESCE({table}.sent_at, excluded.sent_at) "
        f"WHERE NOT {table}.final RETURNING deploy_id, sent_at = %s"
    )
    return sql, [*params, connection.ops.adapt_datetimefield_value(now)]


def _recompute_enqueue(due: list[int]) -> None:
    from metrics.impact.tasks import impact_compute
    from tracker.enqueue import enqueue

    for deploy_id in due:
        enqueue(impact_compute, deploy_id)


def metric_setting_save(
    *,
    project: Project,
    service: Service,
    name: str,
    direction: str | None = None,
    allowed_change: float | None = None,
    critical: bool | None = None,
    min_samples: int | None = None,
    window_minutes: int | None = None,
    warmup_minutes: int | None = None,
    seasonal_baseline: bool | None = None,
    unit: str | None = None,
    user: AbstractBaseUser | None = None,
    token: ApiToken | None = None,
) -> MetricSetting:
    """Create or update one metric's settings; omitted values keep their current (or default) value."""
    values = {
        "direction": direction,
        "allowed_change": allowed_change,
        "critical": critical,
        "min_samples": min_samples,
        "window_minutes": window_minutes,
        "warmup_minutes": warmup_minutes,
        "seasonal_baseline": seasonal_baseline,
        "unit": unit,
    }
    with transaction.atomic():
        setting, _ = MetricSetting.objects.select_for_update().get_or_create(
            service=service, name=name, defaults={"project": project, "direction": direction or default_direction(name)}
        )
        for key, value in values.items():
            if value is not None:
                setattr(setting, key, value)
        setting.full_clean()
        setting.save()
        applied = {key: value for key, value in values.items() if value is not None}
        audit_record(
            project=project,
            action="metric_setting.saved",
            user=user,
            token=token,
            target=setting,
            details={"service": service.name, "name": name, **applied},
        )
    return setting
