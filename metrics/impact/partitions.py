"""Raw metric points partitioned by day on PostgreSQL: partitions created ahead, whole days dropped at retention.

On PostgreSQL `impact_metricchunk` (the points, stored by the minute: metrics/impact/chunks.py) is a declarative
range-partitioned table on `minute` (migration 0010_metric_points_stored_in_chunks, as the points table was on
`ts` since 0006): one partition per UTC day, named `impact_metricchunk_pYYYYMMDD`, and a default partition that
takes any chunk no day partition covers, so an insert is never refused (plain INSERT and COPY into the parent both
route rows). The beat task `metrics_partitions` creates the partitions of yesterday to `DAYS_AHEAD` days ahead;
retention drops whole day partitions older than the cutoff instead of deleting rows, and deletes only the default
partition's expired chunks. Window queries filtered on `minute` read only the partitions of their days
(partition pruning).

Django keeps `id` as the model's primary key, but the table has no key constraint: nothing reads a chunk by id.
`id` still comes from one sequence (values cached 1,000 at a time per connection), so it stays unique and ORM
lookups by pk work, by scanning. SQLite keeps one plain table; every function here is a no-op there.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction

logger = logging.getLogger(__name__)

TABLE = "impact_metricchunk"
COLUMN = "minute"  # the partition key
DEFAULT = f"{TABLE}_default"
PREFIX = f"{TABLE}_p"
DAYS_AHEAD = 7
DELETE_CHUNK = 20_000


def partitioned() -> bool:
    """Whether the chunk table is partitioned (PostgreSQL)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [TABLE])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def partition_name(day: date) -> str:
    return f"{PREFIX}{day:%Y%m%d}"


def day_partitions() -> dict[date, str]:
    """The existing day partitions by day."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [TABLE],
        )
        names = [name for (name,) in cursor.fetchall()]
    out = {}
    for name in names:
        if name.startswith(PREFIX):
            out[datetime.strptime(name[len(PREFIX) :], "%Y%m%d").date()] = name
    return out


def partitions_ensure(*, today: date, days_ahead: int = DAYS_AHEAD) -> list[str]:
    """Create the day partitions from yesterday to `days_ahead` days after `today`; return the new ones.

    Idempotent. A day whose chunks already landed in the default partition gets them moved into its new
    partition in the same transaction (attaching a partition must find no row of its range in the default).
    """
    if not partitioned():
        return []
    existing = day_partitions()
    created = []
    for offset in range(-1, days_ahead + 1):
        day = today + timedelta(days=offset)
        if day not in existing:
            _partition_create(day)
            created.append(partition_name(day))
    if created:
        logger.info("metric chunk partitions created: %s", ", ".join(created))
    return created


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def _partition_create(day: date) -> None:
    name = partition_name(day)
    start, end = _bounds(day)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [TABLE])  # one creator at a time
        cursor.execute("SELECT 1 FROM pg_class WHERE oid = to_regclass(%s) AND relispartition", [name])
        if cursor.fetchone():
            return
        # The table is created detached, filled from the default partition, then attached: attaching
        # checks that the default holds no row of the new range, and this order keeps that check true.
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {name} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
        cursor.execute(
            f"WITH moved AS (DELETE FROM {DEFAULT} WHERE {COLUMN} >= %s AND {COLUMN} < %s RETURNING *) "  # noqa: S608
            f"INSERT INTO {name} SELECT * FROM moved",
            [start, end],
        )
        if cursor.rowcount:
            logger.info("moved %d chunks of %s from the default partition", cursor.rowcount, day)
        cursor.execute(f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM (%s) TO (%s)", [start, end])


def partitions_drop(*, before: datetime) -> tuple[list[str], int]:
    """Drop the day partitions whose whole day is before `before`; return their names and their
    estimated row count (the planner's statistics: counting would scan them)."""
    if not partitioned():
        return [], 0
    expired = sorted((day, name) for day, name in day_partitions().items() if _bounds(day)[1] <= before)
    rows = 0
    for _, name in expired:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = to_regclass(%s)", [name])
            rows += cursor.fetchone()[0]
            cursor.execute(f"DROP TABLE {name}")
    return [name for _, name in expired], rows


def default_delete(*, before: datetime) -> int:
    """Delete the default partition's chunks whose every point is older than `before` (a chunk holds its minute's
    points), in batches; return how many."""
    if not partitioned():
        return 0
    total = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {DEFAULT} WHERE ctid IN "  # noqa: S608
                f"(SELECT ctid FROM {DEFAULT} WHERE {COLUMN} <= %s LIMIT %s)",
                [before - timedelta(minutes=1), DELETE_CHUNK],
            )
            deleted = cursor.rowcount
        total += deleted
        if deleted < DELETE_CHUNK:
            return total
