"""Ingest throughput: POST /api/v1/metrics over HTTP to gunicorn against PostgreSQL.

Usage:
    python bench/ingest.py [--batch 5000] [--seconds 30] [--concurrency 1 4] [--workers 3]
        [--database-url postgres://postgres@127.0.0.1:5432/dt_bench_ingest] [--redis-url redis://127.0.0.1:6379/3]

What it does: creates (or reuses) the benchmark database, migrates it, creates a project with an ingest token,
a service, an environment and a live deploy; starts gunicorn (sync workers, the production command) on a free
port; pre-builds the request bodies (so the client measures the server, not its own JSON encoding); then, for
each concurrency level, keeps that many keep-alive connections posting batches for --seconds after a warm-up,
and prints points/s (points / wall time), p50/p99 request latency, and the rows counted in the database.
Target: >= 50,000 points/s sustained with batches of 5,000 on a 2-core machine.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
NAMES = [f"metric_{i}" for i in range(10)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))]


def server_env(args: argparse.Namespace) -> dict[str, str]:
    return {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Keep each worker's connection for the whole run so its backend's CPU can be read (default 60 s).
        "DB_CONN_MAX_AGE": "600",
        "PYTHONPATH": str(ROOT),
    }


SETUP = """
import django, sys
django.setup()
from datetime import timedelta
from django.db import connection
from django.utils import timezone
from deployments.services import deploy_record
from metrics.impact.models import MetricPoint, MetricRollup
from tracker.models import Project
from tracker.services import token_issue
project, _ = Project.objects.get_or_create(slug="bench", defaults={"name": "bench"})
deploy_record(project=project, service="bench-svc", environment="production", version="1.0",
              finished_at=timezone.now() - timedelta(days=1))
raw = token_issue(project=project, name="bench", scopes=["ingest"])[1]
with connection.cursor() as cursor:
    cursor.execute(f"TRUNCATE {MetricPoint._meta.db_table}, {MetricRollup._meta.db_table}")
print(MetricPoint._meta.db_table)
print(raw)
"""


def prepare(args: argparse.Namespace) -> tuple[str, str]:
    """Migrate, empty the point tables, create the project: (its ingest token, the points' table name)."""
    env = server_env(args)
    dbname = args.database_url.rsplit("/", 1)[1]
    admin_url = args.database_url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {dbname}"], capture_output=True, check=False)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run(
        [sys.executable, "-c", SETUP], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "tracker.settings"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    table, token = out.stdout.strip().splitlines()[-2:]
    return token, table


def bodies(batch: int, count: int) -> list[bytes]:
    """Distinct pre-encoded batches: 10 series, timestamps spread over the last minutes."""
    now = time.time()
    out = []
    for b in range(count):
        points = [
            {
                "service": "bench-svc",
                "environment": "production",
                "name": NAMES[i % len(NAMES)],
                "value": 100.0 + (i * 7919 + b) % 1000 / 10.0,
                "timestamp": now - 300 + (i + b * batch) % 300,
                "labels": {"host": f"h{i % 4}"},
            }
            for i in range(batch)
        ]
        out.append(orjson.dumps({"points": points}))
    return out


def post_loop(port: int, token: str, payloads: list[bytes], stop_at: float, latencies: list, counts: list) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    i = 0
    while time.perf_counter() < stop_at:
        body = payloads[i % len(payloads)]
        started = time.perf_counter()
        conn.request("POST", "/api/v1/metrics", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 202:
            raise SystemExit(f"unexpected status {response.status}")
        counts.append(1)
        i += 1
    conn.close()


def run_level(port: int, token: str, payloads: list[bytes], concurrency: int, seconds: float, batch: int) -> dict:
    latencies: list[float] = []
    counts: list[int] = []
    start = time.perf_counter()
    stop_at = start + seconds
    threads = [
        threading.Thread(target=post_loop, args=(port, token, payloads[c::concurrency], stop_at, latencies, counts))
        for c in range(concurrency)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    points = len(counts) * batch
    return {
        "concurrency": concurrency,
        "requests": len(counts),
        "points": points,
        "points_per_s": points / wall,
        "p50_ms": pct(latencies, 50) * 1000,
        "p99_ms": pct(latencies, 99) * 1000,
    }


def wait_ready(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit("gunicorn did not become ready")


def _cpu_s(pid: str) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu_s(pgid: int) -> float:
    """user+sys CPU seconds of gunicorn's live processes (the same measure as the MLflow peer benchmark)."""
    total = 0.0
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.getpgid(int(entry)) == pgid:
                total += _cpu_s(entry)
        except (OSError, IndexError, ValueError):
            continue
    return total


def database_cpu_s(dbname: str) -> float:
    """CPU seconds of the PostgreSQL backends serving the benchmark database (its connections only)."""
    total = 0.0
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().decode(errors="replace")
            if cmdline.startswith("postgres:") and f" {dbname} " in cmdline:
                total += _cpu_s(entry)
        except (OSError, IndexError, ValueError):
            continue
    return total


def count_rows(database_url: str, table: str) -> int:
    out = subprocess.run(
        # The table name comes from the model (prepare), not from input.
        ["psql", database_url, "-tAc", f"SELECT count(*) FROM {table}"],  # noqa: S608
        capture_output=True,
        text=True,
    )
    return int(out.stdout.strip() or 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/dt_bench_ingest")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    args = parser.parse_args()

    token, table = prepare(args)
    payloads = bodies(args.batch, 24)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "tracker.wsgi", "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "--timeout", "120"],
        cwd=ROOT, env=server_env(args), start_new_session=True,
    )  # fmt: skip
    try:
        wait_ready(port, proc)
        run_level(port, token, payloads, max(args.concurrency), args.warmup, args.batch)
        print(f"ingest: batches of {args.batch:,} points, gunicorn {args.workers} sync workers, PostgreSQL")
        for level in args.concurrency:
            dbname = args.database_url.rsplit("/", 1)[1]
            before, cpu_before, db_before = (
                count_rows(args.database_url, table),
                server_cpu_s(proc.pid),
                database_cpu_s(dbname),
            )
            r = run_level(port, token, payloads, level, args.seconds, args.batch)
            cpu_ms_per_1k = (server_cpu_s(proc.pid) - cpu_before) * 1000 / (r["points"] / 1000)
            db_ms_per_1k = (database_cpu_s(dbname) - db_before) * 1000 / (r["points"] / 1000)
            stored = count_rows(args.database_url, table) - before
            print(
                f"  {level} connection(s): {r['points_per_s']:,.0f} points/s over {args.seconds:.0f} s "
                f"({r['requests']} requests), p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, "
                f"server cpu {cpu_ms_per_1k:.1f} ms/1k pts, database cpu {db_ms_per_1k:.1f} ms/1k pts; "
                f"rows stored {stored:,} (posted {r['points']:,})"
            )
        print(f"  machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
