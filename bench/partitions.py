"""Raw metric points partitioned by day: retention by DROP against chunked DELETE, COPY into the partitioned
parent against a plain table, and the judge's window query on both.

Usage:
    python bench/partitions.py [--days 6] [--rows-per-day 1000000]
        [--database-url postgres://postgres@127.0.0.1:5432/dt_partitions_bench]

What it does: creates (or reuses) the database and migrates it (so `impact_metricpoint` is partitioned by day),
fills --days past days with --rows-per-day points each (server-side generate_series), copies the same rows into
a plain table with the pre-partitioning indexes (B-tree (deploy, name, ts) and BRIN on ts), then prints:
1. retention of the oldest half of the days: `metrics_retention` (DROP of whole partitions) against the
   previous chunked DELETE (20,000 ids at a time) on the plain table;
2. COPY of 200,000 points (today) into the partitioned parent and into the plain table;
3. the judge's window query (one deploy, one name, one hour) on both: execution time and partitions read.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAIN = "bench_metricpoint_plain"
COLUMNS = "project_id, service_id, environment_id, deploy_id, name, ts, value, labels"


def setup(database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url, "DEBUG": "1", "SECRET_KEY": "bench-only-secret-key"}
    name = database_url.rsplit("/", 1)[1]
    admin = database_url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name}"], check=True)
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    os.environ.update(env | {"DJANGO_SETTINGS_MODULE": "tracker.settings"})
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def fill(cursor, days: int, per_day: int, today: datetime) -> None:
    first = today - timedelta(days=days)
    sql = (
        f"INSERT INTO impact_metricpoint ({COLUMNS}) "  # noqa: S608
        "SELECT 1, 1, 1, 1 + (g % 200), 'metric_' || (g % 10), "
        "%s::timestamptz + (g * (86400.0 * %s / %s)) * interval '1 second', random(), NULL "
        "FROM generate_series(0, %s - 1) g"
    )
    cursor.execute(sql, [first, days, days * per_day, days * per_day])
    cursor.execute(f"CREATE TABLE {PLAIN} AS SELECT * FROM impact_metricpoint")  # noqa: S608
    cursor.execute(f"ALTER TABLE {PLAIN} ADD PRIMARY KEY (id)")
    cursor.execute(f"CREATE INDEX ON {PLAIN} (deploy_id, name, ts)")
    cursor.execute(f"CREATE INDEX ON {PLAIN} USING brin (ts) WITH (pages_per_range = 32)")
    cursor.execute(f"ANALYZE {PLAIN}")
    cursor.execute("ANALYZE impact_metricpoint")


def chunked_delete(cursor, before: datetime) -> int:
    total = 0
    while True:
        cursor.execute(f"SELECT id FROM {PLAIN} WHERE ts < %s LIMIT 20000", [before])  # noqa: S608
        ids = [i for (i,) in cursor.fetchall()]
        if not ids:
            return total
        cursor.execute(f"DELETE FROM {PLAIN} WHERE id = ANY(%s)", [ids])  # noqa: S608
        total += cursor.rowcount


def copy_rows(cursor, table: str, now: datetime, n: int) -> float:
    text = "".join(f"1\t1\t1\t{1 + i % 200}\tmetric_{i % 10}\t{now.isoformat()}\t{i * 0.5}\t\\N\n" for i in range(n))
    started = time.perf_counter()
    cursor.copy_expert(f"COPY {table} ({COLUMNS}) FROM STDIN", io.StringIO(text))
    return time.perf_counter() - started


def window_query(cursor, table: str, start: datetime) -> tuple[float, str]:
    sql = (
        f"EXPLAIN (ANALYZE, FORMAT TEXT) SELECT value FROM {table} "  # noqa: S608
        "WHERE deploy_id = 7 AND name = 'metric_7' AND ts >= %s AND ts < %s"
    )
    cursor.execute(sql, [start, start + timedelta(hours=1)])
    plan = "\n".join(row for (row,) in cursor.fetchall())
    ms = float(plan.rsplit("Execution Time:", 1)[1].split()[0])
    return ms, plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=6)
    parser.add_argument("--rows-per-day", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/dt_partitions_bench")
    args = parser.parse_args()
    setup(args.database_url)
    from django.conf import settings
    from django.db import connection

    from metrics.impact import partitions
    from metrics.impact.tasks import metrics_retention

    now = datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for back in range(args.days + 1):
        partitions.partitions_ensure(today=(today - timedelta(days=back)).date(), days_ahead=0)
    with connection.cursor() as cursor:
        started = time.perf_counter()
        fill(cursor, args.days, args.rows_per_day, today)
        print(f"filled {args.days} days x {args.rows_per_day:,} points twice in {time.perf_counter() - started:.1f}s")

        expired = args.days // 2
        settings.METRIC_RETENTION_DAYS = args.days - expired
        cutoff = now - timedelta(days=settings.METRIC_RETENTION_DAYS)
        started = time.perf_counter()
        dropped = metrics_retention()
        drop_s = time.perf_counter() - started
        started = time.perf_counter()
        deleted = chunked_delete(cursor, cutoff)  # autocommit: one transaction per chunk, as before
        delete_s = time.perf_counter() - started
        print(f"retention, {expired} days: DROP partitions {drop_s:.3f}s (~{dropped:,} rows) | "
              f"chunked DELETE on the plain table {delete_s:.1f}s ({deleted:,} rows)")  # fmt: skip

        n = 200_000
        parted, plain = copy_rows(cursor, "impact_metricpoint", now, n), copy_rows(cursor, PLAIN, now, n)
        print(f"COPY {n:,} points: partitioned parent {n / parted:,.0f} points/s | plain table {n / plain:,.0f}/s")

        start = today - timedelta(days=1) + timedelta(hours=10)
        parted_ms, plan = window_query(cursor, "impact_metricpoint", start)
        plain_ms, _ = window_query(cursor, PLAIN, start)
        read = sorted({name for name in partitions.day_partitions().values() if name in plan})
        print(f"judge window (1 deploy, 1 name, 1 hour): partitioned {parted_ms:.2f} ms reading {read} | "
              f"plain {plain_ms:.2f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
