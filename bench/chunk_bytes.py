"""Bytes on disk per raw metric point, by how many points share a chunk (one series' points of one minute).

Usage:
    python bench/chunk_bytes.py [--points 600000] [--per-chunk 1 4 60 500] [--labelled 60]
        [--database-url postgres://postgres@127.0.0.1:5432/dt_chunk_bytes]

What it does: creates (or reuses) the database and migrates it; for each --per-chunk density empties the chunk
table, stores --points points of 10 series through the product's writer (`metrics.impact.chunks.chunks_of` and
`chunks_insert`, as the ingest does: binary COPY), each batch one minute of every series with that many points
per series, runs `VACUUM ANALYZE` and prints the day partitions' `pg_total_relation_size` (table, TOAST and
indexes) divided by the points stored. --labelled repeats one density with two labels on each point (4 label sets,
so 4 chunks per series and minute).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SERIES = 10


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=600_000)
    parser.add_argument("--per-chunk", type=int, nargs="+", default=[1, 4, 60, 500])
    parser.add_argument("--labelled", type=int, nargs="*", default=[60])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/dt_chunk_bytes")
    args = parser.parse_args()
    dbname = args.database_url.rsplit("/", 1)[1]
    admin_url = args.database_url.rsplit("/", 1)[0] + "/postgres"
    exists = subprocess.run(["psql", admin_url, "-Atc", f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'"],  # noqa: S608 - the bench's own database
                            capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    if not exists:
        subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {dbname}"], check=True)
    os.environ.update({"DATABASE_URL": args.database_url, "DJANGO_SETTINGS_MODULE": "tracker.settings"})
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ.setdefault("DEBUG", "0")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    for per_chunk in args.per_chunk:
        measure(per_chunk, args.points, labelled=False)
    for per_chunk in args.labelled:
        measure(per_chunk, args.points, labelled=True)


def measure(per_chunk: int, total: int, *, labelled: bool) -> None:
    from django.db import connection, transaction

    from deployments.models import Environment, Service
    from metrics.impact.chunks import chunks_insert, chunks_of
    from metrics.impact.models import MetricChunk
    from metrics.points import PointBatch
    from tracker.models import Project

    project, _ = Project.objects.get_or_create(slug="chunk-bytes", defaults={"name": "chunk bytes"})
    service, _ = Service.objects.get_or_create(project=project, name="svc")
    environment, _ = Environment.objects.get_or_create(project=project, name="production")
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {MetricChunk._meta.db_table}")
    rng = np.random.default_rng(1)
    first_minute = int(time.time() - 43_200) // 60  # half a day ago: today's or yesterday's partition
    names = [f"metric_{i}" for i in range(SERIES) for _ in range(per_chunk)]
    size = len(names)
    labels = [{"region": "eu-west-1", "host": f"h-{i % 4}"} if labelled else None for i in range(size)]
    for minute in range(first_minute, first_minute + total // size):
        stamps = np.tile(minute * 60 + np.arange(per_chunk) * (60.0 / per_chunk), SERIES)
        batch = PointBatch(services=["svc"] * size, environments=["production"] * size, names=names,
                           values=rng.normal(100, 10, size), timestamps=stamps, labels=labels,
                           deploys=[None] * size)  # fmt: skip
        with transaction.atomic():
            ids = (np.full(size, service.pk), np.full(size, environment.pk), np.full(size, 1, dtype=np.int64))
            chunks_insert(project.pk, batch, chunks_of(batch, *ids))
    table = MetricChunk._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [table],
        )
        on_disk = cursor.fetchone()[0]
        cursor.execute(f"SELECT sum(count), count(*) FROM {table}")  # noqa: S608
        points, chunks = cursor.fetchone()
    print(f"{per_chunk} points per series and minute{' (2 labels, 4 label sets)' if labelled else ''}: "
          f"{points:,} points in {chunks:,} chunks, {on_disk:,} B with indexes = {on_disk / points:.1f} B per point",
          flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
