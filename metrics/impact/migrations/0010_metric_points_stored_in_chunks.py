"""Raw metric points are stored by the minute in chunks (`MetricChunk`), one row per series, minute and batch.

Every point already stored is kept: grouped by (project, service, environment, deploy, name, labels, minute),
each group becomes one chunk whose `stamps` and `values` hold its points in time order (big-endian int64
microseconds since the Unix epoch and float64; see metrics/impact/chunks.py). On PostgreSQL the chunk table is
range-partitioned by day on `minute`, as the points table was on `ts` (metrics/impact/partitions.py): one
partition per UTC day from the oldest kept point (within retention) to a week ahead, and a default partition;
`id` comes from a sequence with a per-connection cache of 1,000 and has no index (nothing reads a chunk by id).
The points table is then dropped. Copying takes time proportional to the points kept; it runs in the migration's
transaction. The migration reverses: the points are expanded back into the partitioned points table of 0009.
"""

import io
import json
from datetime import UTC, datetime, timedelta

import django.db.models.deletion
import numpy as np
from django.conf import settings
from django.db import migrations, models

CHUNKS = "impact_metricchunk"
POINTS = "impact_metricpoint"
CHUNK_SEQUENCE = "impact_metricchunk_chunk_id_seq"
POINT_SEQUENCE = "impact_metricpoint_point_id_seq"
DAYS_AHEAD = 7  # partitions.DAYS_AHEAD; migrations do not import application code
MINUTE_US = 60_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
FLUSH = 1000
NULL_TEXT = "\\N"


def _days(schema_editor, table: str, oldest) -> list:
    """The days to partition: from the oldest kept day (yesterday at the latest) to a week ahead."""
    today = datetime.now(UTC).date()
    first = today - timedelta(days=1)
    if oldest is not None:
        kept_from = today - timedelta(days=settings.METRIC_RETENTION_DAYS + 1)
        first = min(first, max(oldest.astimezone(UTC).date(), kept_from))
    return [first + timedelta(days=i) for i in range((today + timedelta(days=DAYS_AHEAD) - first).days + 1)]


def _partition_by_day(schema_editor, table: str, column: str, sequence: str, indexes: list[str], oldest) -> None:
    """Rebuild the (empty) plain table `table` as one range-partitioned by day on `column`.

    The model's own B-tree index is not created here: Django creates it at the end of the migration (deferred),
    by the table's name, so on the partitioned table."""
    run = schema_editor.execute
    plain = f"{table}_plain"
    run(f"ALTER TABLE {table} RENAME TO {plain}")
    run(f"CREATE TABLE {table} (LIKE {plain} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE ({column})")
    run(f"DROP TABLE {plain}")  # its indexes and identity go with it
    run(f"CREATE SEQUENCE {sequence} AS bigint CACHE 1000 OWNED BY {table}.id")
    run(f"ALTER TABLE {table} ALTER COLUMN id SET DEFAULT nextval('{sequence}')")
    for index in indexes:
        run(index)
    run(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    for day in _days(schema_editor, table, oldest):
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        run(
            f"CREATE TABLE {table}_p{day:%Y%m%d} PARTITION OF {table} FOR VALUES FROM (%s) TO (%s)",
            [start, start + timedelta(days=1)],
        )


def _oldest(schema_editor, table: str, column: str):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT min({column}) FROM {table}")  # noqa: S608
        return cursor.fetchone()[0]


def to_chunks(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        _to_chunks_python(apps)
        return
    _partition_by_day(
        schema_editor,
        CHUNKS,
        "minute",
        CHUNK_SEQUENCE,
        [
            f"CREATE INDEX chunk_minute_brin ON {CHUNKS} USING brin (minute) WITH (pages_per_range = 32)",
        ],
        _oldest(schema_editor, POINTS, "ts"),
    )
    # float8send and int8send give the big-endian bytes metrics.impact.chunks reads; extract(epoch) is numeric.
    schema_editor.execute(
        f"INSERT INTO {CHUNKS} (project_id, service_id, environment_id, deploy_id, name, labels, minute, count, "  # noqa: S608
        "stamps, values) "
        "SELECT project_id, service_id, environment_id, deploy_id, name, labels, date_trunc('minute', ts), count(*), "
        "string_agg(int8send((extract(epoch FROM ts) * 1000000)::bigint), ''::bytea ORDER BY ts), "
        "string_agg(float8send(value), ''::bytea ORDER BY ts) "
        f"FROM {POINTS} "
        "GROUP BY project_id, service_id, environment_id, deploy_id, name, labels, date_trunc('minute', ts)"
    )


def _micros(ts: datetime) -> int:
    return (ts.astimezone(UTC) - EPOCH) // timedelta(microseconds=1)


def _to_chunks_python(apps) -> None:
    """SQLite: the points in (series, time) order, cut into chunks at each new series or minute."""
    point_model, chunk_model = apps.get_model("impact", "MetricPoint"), apps.get_model("impact", "MetricChunk")
    points = point_model.objects.order_by(
        "project_id", "service_id", "environment_id", "deploy_id", "name", "labels", "ts"
    ).values_list("project_id", "service_id", "environment_id", "deploy_id", "name", "labels", "ts", "value")
    pending, current, stamps, values = [], None, [], []

    def close() -> None:
        if current is not None:
            project, service, environment, deploy, name, labels, minute = current
            pending.append(
                chunk_model(
                    project_id=project,
                    service_id=service,
                    environment_id=environment,
                    deploy_id=deploy,
                    name=name,
                    labels=json.loads(labels) if labels is not None else None,
                    minute=EPOCH + timedelta(minutes=minute),
                    count=len(stamps),
                    stamps=np.asarray(stamps, dtype=">i8").tobytes(),
                    values=np.asarray(values, dtype=">f8").tobytes(),
                )
            )
        if len(pending) >= FLUSH:
            chunk_model.objects.bulk_create(pending)
            pending.clear()

    for project, service, environment, deploy, name, labels, ts, value in points.iterator(chunk_size=10_000):
        micros = _micros(ts)
        key = (
            project,
            service,
            environment,
            deploy,
            name,
            json.dumps(labels, sort_keys=True) if labels is not None else None,
            micros // MINUTE_US,
        )
        if key != current:
            close()
            current, stamps, values = key, [], []
        stamps.append(micros)
        values.append(value)
    close()
    chunk_model.objects.bulk_create(pending)


def to_points(apps, schema_editor):
    """Reverse: the points table of migration 0009 (partitioned by day on PostgreSQL), filled from the chunks."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        _partition_by_day(
            schema_editor,
            POINTS,
            "ts",
            POINT_SEQUENCE,
            [
                f"CREATE INDEX point_ts_brin ON {POINTS} USING brin (ts) WITH (pages_per_range = 32)",
            ],
            _oldest(schema_editor, CHUNKS, "minute"),
        )
    point_model, chunk_model = apps.get_model("impact", "MetricPoint"), apps.get_model("impact", "MetricChunk")
    rows = chunk_model.objects.values_list(
        "project_id", "service_id", "environment_id", "deploy_id", "name", "labels", "stamps", "values"
    )
    for project, service, environment, deploy, name, labels, stamps, values in rows.iterator(chunk_size=1000):
        times = np.frombuffer(stamps, dtype=">i8").tolist()
        numbers = np.frombuffer(values, dtype=">f8").tolist()
        if vendor == "postgresql":
            # COPY's text form: \N is NULL; a backslash is doubled (JSON escapes tabs and newlines itself).
            tail = "\t".join((str(deploy) if deploy else NULL_TEXT, name))
            label_text = json.dumps(labels).replace("\\", "\\\\") if labels is not None else NULL_TEXT
            text = "".join(
                f"{project}\t{service}\t{environment}\t{tail}\t{(EPOCH + timedelta(microseconds=t)).isoformat()}\t"
                f"{v!r}\t{label_text}\n"
                for t, v in zip(times, numbers, strict=True)
            )
            with schema_editor.connection.cursor() as cursor:
                cursor.copy_expert(
                    f"COPY {POINTS} (project_id, service_id, environment_id, deploy_id, name, ts, value, labels) "
                    "FROM STDIN",
                    io.StringIO(text),
                )
            continue
        point_model.objects.bulk_create(
            point_model(
                project_id=project,
                service_id=service,
                environment_id=environment,
                deploy_id=deploy,
                name=name,
                labels=labels,
                ts=EPOCH + timedelta(microseconds=t),
                value=v,
            )
            for t, v in zip(times, numbers, strict=True)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("deployments", "0001_initial"),
        ("impact", "0009_metricpoint_no_primary_key_sequence_cache"),
        ("tracker", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="MetricChunk",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=200)),
                ("labels", models.JSONField(blank=True, null=True)),
                ("minute", models.DateTimeField()),
                ("count", models.PositiveIntegerField()),
                ("stamps", models.BinaryField()),
                ("values", models.BinaryField()),
                (
                    "deploy",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="deployments.deploy",
                    ),
                ),
                (
                    "environment",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="deployments.environment",
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="tracker.project",
                    ),
                ),
                (
                    "service",
                    models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="deployments.service",
                    ),
                ),
            ],
            options={"indexes": [models.Index(fields=["deploy", "name", "minute"], name="chunk_deploy_name_minute")]},
        ),
        migrations.RunPython(to_chunks, to_points, elidable=False),
        migrations.DeleteModel(name="MetricPoint"),
    ]
