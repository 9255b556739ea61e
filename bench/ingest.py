"""Ingest throughput: POST /api/v1/metrics and POST /api/v1/predictions over HTTP to gunicorn against PostgreSQL,
optionally beside MLflow's tracking server measured in the same run.

Usage:
    python bench/ingest.py [--batches 1000 5000] [--seconds 20] [--concurrency 1] [--workers 3]
        [--prediction-batch 10000] [--batch-ids]
        [--peer-python /tmp/peer-venv/bin/python --peer-dir ../shared/bench --peer-points 100000 --peer-reps 3]
        [--database-url postgres://postgres@127.0.0.1:5432/dt_bench_ingest] [--redis-url redis://127.0.0.1:6379/3]

What it does: creates (or reuses) the benchmark database, migrates it, creates a project with an ingest token,
a service, an environment and a live deploy (and a model service with a deploy for prediction samples); starts
gunicorn (sync workers, the production command) on a free port; encodes the metric batches (at the MLflow peer's
shape: 10 metrics, consecutive steps, every point unique) and the prediction bodies beforehand (so the client
measures the server, not its own JSON encoding); then, for each batch size and concurrency level, keeps that many
clients posting metric batches for --seconds after a warm-up, each on one connection at a time (gunicorn's sync
workers close it after every answer, so each request opens a new one: the MLflow peer keeps one open), and prints
points/s (points / wall time), p50/p99 request latency, the server's and the database's CPU per 1,000 points, and
the points counted in the database (the sum of the stored chunks' point counts). Then the same for prediction
samples (columnar batches of the peer data's shape: 20 numeric and 5 categorical features, a prediction and a 0/1
label), counted after in the prediction column's sketch.
With --peer-python (a virtualenv with ../shared/bench/requirements.txt), first runs the MLflow peer
(peer_mlflow_ingest.py, PostgreSQL backend, 1,000 metrics per log-batch request: its limit, one connection) from a
copy of --peer-dir, and prints the ratio of our figure at the same batch size to its median.
Before the peer and before each of our measurements the cluster settles (a CHECKPOINT, then autovacuum workers
left to finish, up to 90 s): a run does not pay for the writes of the one before it.
The wall figures depend on what else runs on the machine; the CPU per 1,000 points does much less.
Targets (issue #16): >= 10x MLflow at 1,000-point batches, >= 120,000 points/s at 5,000, >= 100,000 prediction
rows/s, one client, every point stored.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
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
from metrics.impact.models import MetricChunk, MetricRollup
from tracker.models import Project
from tracker.services import token_issue
project, _ = Project.objects.get_or_create(slug="bench", defaults={"name": "bench"})
deploy_record(project=project, service="bench-svc", environment="production", version="1.0",
              finished_at=timezone.now() - timedelta(days=1))
predicted, _ = deploy_record(project=project, service="bench-model", environment="production", version="1.0",
                             finished_at=timezone.now() - timedelta(days=1))
raw = token_issue(project=project, name="bench", scopes=["ingest"])[1]
with connection.cursor() as cursor:
    cursor.execute(f"TRUNCATE {MetricChunk._meta.db_table}, {MetricRollup._meta.db_table}")
print(MetricChunk._meta.db_table)
print(predicted.pk)
print(raw)
"""


def prepare(args: argparse.Namespace) -> tuple[str, str, int]:
    """Migrate, empty the point tables, create the project: (its ingest token, the points' (chunks') table name,
    the model deploy's id)."""
    env = server_env(args)
    dbname = args.database_url.rsplit("/", 1)[1]
    admin_url = args.database_url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {dbname}"], capture_output=True, check=False)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run(
        [sys.executable, "-c", SETUP], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "tracker.settings"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    table, model_deploy, token = out.stdout.strip().splitlines()[-3:]
    return token, table, int(model_deploy)


class MetricFeed:
    """Distinct metric batches at the MLflow peer's shape (its make_batches): 10 metrics, consecutive steps, every
    point unique, each series' timestamps increasing (1 ms a step, from 15 minutes ago), as live traffic arrives.

    The body is encoded once; each call writes the next timestamps' digits into a copy (a few NumPy operations,
    ~0.3 ms for 5,000 points), so the client measures the server, not its own JSON encoding. The clock is shared by
    every feed of the run: no level repeats a timestamp of another. (Cycling a few pre-built batches posted the same
    (metric, timestamp) keys over and over: a shape no client sends and the peer does not measure.)"""

    _clock_ms = int(time.time() * 1000) - 900_000
    _lock = threading.Lock()
    # Epoch seconds with milliseconds, always 14 characters (10 digits, a dot, 3 digits) until the year 2286.
    _POWERS = 10 ** np.arange(12, -1, -1, dtype=np.int64)
    _COLUMNS = np.array([*range(10), 11, 12, 13])

    def __init__(self, batch: int) -> None:
        self.batch = batch
        points = [
            {
                "service": "bench-svc",
                "environment": "production",
                "name": NAMES[i % len(NAMES)],
                "value": 100.0 + (i * 7919) % 1000 / 10.0,
                "timestamp": "T",
                "labels": {"host": f"h{i % 4}"},
            }
            for i in range(batch)
        ]
        template = orjson.dumps({"points": points}).replace(b'"timestamp":"T"', b'"timestamp":0000000000.000')
        self.template = np.frombuffer(template, dtype=np.uint8)
        key = b'"timestamp":'
        starts, at = [], template.find(key)
        while at >= 0:
            starts.append(at + len(key))
            at = template.find(key, at + 1)
        self.positions = np.array(starts, dtype=np.int64)[:, None] + self._COLUMNS

    def __call__(self) -> bytes:
        with MetricFeed._lock:  # concurrent clients never share a timestamp
            start = MetricFeed._clock_ms
            MetricFeed._clock_ms = start + math.ceil(self.batch / len(NAMES))
        millis = start + np.arange(self.batch, dtype=np.int64) // len(NAMES)
        body = self.template.copy()
        body[self.positions] = (millis[:, None] // self._POWERS) % 10 + ord("0")
        return body.tobytes()


def prediction_bodies(batch: int, count: int, deploy_id: int) -> list[bytes]:
    """Distinct pre-encoded columnar batches of the peer data's shape: 20 numeric and 5 categorical features,
    a prediction and a 0/1 label, all rows to one named deploy."""
    rng = np.random.default_rng(20240601)
    out = []
    for _ in range(count):
        columns: dict[str, object] = {f"num_{j:02d}": rng.normal(j, 1 + j % 3, batch) for j in range(20)}
        for j, levels in enumerate((5, 10, 20, 35, 50)):
            columns[f"cat_{j}"] = [f"v{x:02d}" for x in rng.integers(0, levels, batch).tolist()]
        body = {
            "service": "bench-model",
            "environment": "production",
            "deploy": deploy_id,
            "columns": columns,
            "prediction": rng.uniform(0, 1, batch),
            "label": rng.integers(0, 2, batch),
        }
        out.append(orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY))
    return out


def post_loop(
    port: int, token: str, path: str, next_body: Callable[[], bytes], stop_at: float, latencies: list, counts: list,
    keyed: bool = False,
) -> None:  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    run = f"{os.getpid()}-{threading.get_ident()}-{time.time_ns()}"
    i = 0
    while time.perf_counter() < stop_at:
        body = next_body()
        if keyed:  # a fresh batch id per request, as the CLI sends (Idempotency-Key: the body stays the same)
            headers["Idempotency-Key"] = f"bench-{run}-{i}"
        started = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        answer = response.read()
        latencies.append(time.perf_counter() - started)
        if response.status != 202:
            raise SystemExit(f"unexpected status {response.status}: {answer[:300]!r}")
        counts.append(1)
        i += 1
    conn.close()


def run_level(
    port: int, token: str, path: str, next_body: Callable[[], bytes], concurrency: int, seconds: float, batch: int,
    keyed: bool = False,
) -> dict:  # fmt: skip
    latencies: list[float] = []
    counts: list[int] = []
    start = time.perf_counter()
    stop_at = start + seconds
    threads = [
        threading.Thread(target=post_loop, args=(port, token, path, next_body, stop_at, latencies, counts, keyed))
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


TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: str) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_MS / 1000


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


def count_points(database_url: str, table: str) -> int:
    """Metric points stored: the points counted in the chunks (a chunk holds a series' points of one minute)."""
    return _count(database_url, f"SELECT coalesce(sum(count), 0) FROM {table}")  # noqa: S608 - the model's table


def count_samples(database_url: str, deploy_id: int) -> int:
    """Prediction rows stored for the deploy: the values and nulls counted in its prediction column's sketch."""
    sql = (
        "SELECT coalesce(sum(s.n + s.nulls), 0) FROM drift_columnsketch s JOIN drift_samplecolumn c "  # noqa: S608
        f"ON c.id = s.column_id WHERE c.role = 'prediction' AND s.deploy_id = {int(deploy_id)}"
    )
    return _count(database_url, sql)


def _count(database_url: str, sql: str) -> int:
    out = subprocess.run(["psql", database_url, "-tAc", sql], capture_output=True, text=True, check=True)
    return int(out.stdout.strip() or 0)


def run_peer(args: argparse.Namespace) -> dict | None:
    """MLflow's tracking server on PostgreSQL at its own request shape, from a copy of the peer folder."""
    work = Path(tempfile.mkdtemp(prefix="peer_mlflow_"))
    try:
        for name in ("peer_mlflow_ingest.py", "benchlib.py"):
            shutil.copy(Path(args.peer_dir) / name, work / name)
        out = work / "mlflow_ingest.json"
        command = [args.peer_python, "peer_mlflow_ingest.py", "--backends", "postgresql", "--points",
                   str(args.peer_points), "--reps", str(args.peer_reps), "--out", str(out)]  # fmt: skip
        if args.peer_workers:
            command += ["--workers", str(args.peer_workers)]
        print("mlflow: " + " ".join(command[1:]), flush=True)
        subprocess.run(command, cwd=work, check=True)
        result = json.loads(out.read_text())["backends"]["postgresql"]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if result.get("status") != "ok":
        print(
            f"MLflow FAILED: {result.get('reason')}; its server's log ends:\n{result.get('server_log_tail', '')[-800:]}"
        )
        return None
    return result


def settle(database_url: str, limit: float = 90.0) -> float:
    """Let the cluster finish what an earlier run left it (a checkpoint of its writes, autovacuum of its tables, the
    peer's or our own) before the next measurement, so that no run pays for the one before it; seconds waited."""
    import psycopg2

    started = time.monotonic()
    with psycopg2.connect(database_url) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CHECKPOINT")
            while time.monotonic() - started < limit:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
                if cur.fetchone()[0] == 0:
                    break
                time.sleep(1)
    time.sleep(2)
    return time.monotonic() - started


def measure(
    args, proc, port: int, token: str, path: str, next_body: Callable[[], bytes], batch: int, level: int, count
):
    """One level, after the cluster settled: points/s, latency, server and database CPU per 1,000 points, rows
    stored against posted."""
    settle(args.database_url)
    dbname = args.database_url.rsplit("/", 1)[1]
    before, cpu_before, db_before = count(), server_cpu_s(proc.pid), database_cpu_s(dbname)
    keyed = args.batch_ids and path == "/api/v1/metrics"
    r = run_level(port, token, path, next_body, level, args.seconds, batch, keyed)
    r["server_cpu_ms_per_1k"] = (server_cpu_s(proc.pid) - cpu_before) * 1000 / (r["points"] / 1000)
    r["db_cpu_ms_per_1k"] = (database_cpu_s(dbname) - db_before) * 1000 / (r["points"] / 1000)
    r["stored"] = count() - before
    return r


def describe(r: dict, unit: str, seconds: float) -> str:
    return (
        f"{r['points_per_s']:,.0f} {unit}/s over {seconds:.0f} s ({r['requests']} requests), "
        f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, server cpu {r['server_cpu_ms_per_1k']:.1f} ms/1k, "
        f"database cpu {r['db_cpu_ms_per_1k']:.1f} ms/1k; stored {r['stored']:,} of {r['points']:,} posted"
        + ("" if r["stored"] == r["points"] else "  <-- NOT ALL STORED")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", "--batch", type=int, nargs="+", default=[1000, 5000], help="points per request")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1])
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument(
        "--batch-ids", action="store_true", help="metrics: a fresh batch id per request (Idempotency-Key), as the CLI"
    )
    parser.add_argument("--prediction-batch", type=int, default=10_000, help="rows per request; 0 skips them")
    parser.add_argument("--peer-python", help="python of a venv with ../shared/bench/requirements.txt")
    parser.add_argument("--peer-dir", default=str(ROOT.parent / "shared" / "bench"))
    parser.add_argument("--peer-points", type=int, default=100_000)
    parser.add_argument("--peer-reps", type=int, default=3)
    parser.add_argument(
        "--peer-workers",
        type=int,
        help="mlflow server --workers (default: its own, 4; under heavy load its supervisor kills a worker whose "
        "health ping is late, dropping the connection: 1 runs one process without that supervisor)",
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/dt_bench_ingest")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3")
    args = parser.parse_args()

    token, table, model_deploy = prepare(args)
    if args.peer_python:
        settle(args.database_url)
    peer = run_peer(args) if args.peer_python else None
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "tracker.wsgi", "-w", str(args.workers), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning", "--timeout", "120"],
        cwd=ROOT, env=server_env(args), start_new_session=True,
    )  # fmt: skip
    ours: dict[int, float] = {}
    try:
        wait_ready(port, proc)
        print(f"gunicorn {args.workers} sync workers, PostgreSQL, {os.cpu_count()} cores (loaded by other jobs)")
        for batch in args.batches:
            feed = MetricFeed(batch)
            run_level(
                port, token, "/api/v1/metrics", feed, max(args.concurrency), args.warmup, batch, args.batch_ids
            )  # fmt: skip
            for level in args.concurrency:
                r = measure(
                    args, proc, port, token, "/api/v1/metrics", feed, batch, level,
                    lambda: count_points(args.database_url, table),
                )  # fmt: skip
                if level == 1:
                    ours[batch] = r["points_per_s"]
                print(f"  metrics, batches of {batch:,}, {level} connection(s): {describe(r, 'points', args.seconds)}")
        if args.prediction_batch:
            batch = args.prediction_batch
            payloads = itertools.cycle(prediction_bodies(batch, 12, model_deploy)).__next__
            run_level(port, token, "/api/v1/predictions", payloads, max(args.concurrency), args.warmup, batch)
            for level in args.concurrency:
                r = measure(
                    args, proc, port, token, "/api/v1/predictions", payloads, batch, level,
                    lambda: count_samples(args.database_url, model_deploy),
                )  # fmt: skip
                print(
                    f"  predictions, batches of {batch:,}, {level} connection(s): {describe(r, 'rows', args.seconds)}"
                )
        if peer is not None:
            m = peer["median"]
            print(
                f"  MLflow (same run, before ours): median {m['points_per_s']:,.0f} points/s over {args.peer_reps} "
                f"reps of {args.peer_points:,}, p50 {m['p50_ms']} ms, p99 {m['p99_ms']} ms, server cpu "
                f"{m['server_cpu_ms_per_1k_points']} ms/1k; all points stored: {peer.get('all_points_stored')}"
            )
            if 1000 in ours:
                print(f"  ratio at 1,000-point batches, one connection: {ours[1000] / m['points_per_s']:.1f}x MLflow")
        print(f"  load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
