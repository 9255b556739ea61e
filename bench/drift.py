"""Drift benchmark: 1M reference + 1M current rows through the API, then the drift task; optional Evidently peer.

Usage:
    python bench/drift.py [--rows 1000000] [--batch 10000] [--clients 2] [--workers 2] [--task-runs 3]
        [--database-url postgres://postgres@127.0.0.1:5432/dt_drift_bench] [--redis-url redis://127.0.0.1:6379/4]
        [--peer-python /tmp/peer-venv/bin/python --peer-dir /tmp/peer-bench --peer-runs 3]

What it does:
1. Generates the peer benchmark's data in NumPy (a port of ../shared/bench/gen_data.py: same seed, same PCG64
   streams, same draws in the same order, so the same values): 20 numeric and 5 categorical features, a prediction
   and a 0/1 label; 7 drifted columns (num_01, num_04, num_09, num_15, num_17, cat_1, cat_3).
2. Creates a fresh database, a project, an ingest token and two deploys (reference = baseline, current); starts
   gunicorn (sync workers, the production command) and posts both sides through POST /api/v1/predictions in
   columnar batches from --clients keep-alive connections. Prints rows/s (rows / wall time, JSON encoding in the
   client included) and p50/p99 request latency.
3. Runs the drift task's work (`metrics.drift.services.drift_compute`) in a fresh process, --task-runs times after
   one cold run, and prints its time and the process's peak RSS (VmHWM), plus the drifted columns found
   against the truth.
4. With --peer-python/--peer-dir: runs the Evidently peer (peer_evidently.py, DataDriftPreset with its defaults)
   on the same data in the same run and prints the ratio of the medians.
Targets (issue #4): ingest >= 20,000 rows/s; drift task < 1 s and < 300 MB at 1M rows; >= 10x faster than Evidently.
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
SEED = 20240601
N_NUM = 20
CAT_LEVELS = [5, 10, 20, 35, 50]
MEAN_SHIFT_COLS = ["num_01", "num_09", "num_15"]
SCALE_COLS = ["num_04", "num_17"]
CAT_DRIFT_COLS = ["cat_1", "cat_3"]
CAT_MIX = 0.4
TRUTH = sorted(MEAN_SHIFT_COLS + SCALE_COLS + CAT_DRIFT_COLS)


# --- the peer's data generator, in NumPy only -----------------------------------------------------


def column_specs(seed: int) -> dict:
    rng = np.random.default_rng([seed, 0xC0FFEE])
    specs: dict = {}
    for i in range(N_NUM):
        name = f"num_{i:02d}"
        if i < 8:
            mu, sigma = float(rng.uniform(-5, 5)), float(rng.uniform(0.5, 3.0))
            specs[name] = {"type": "numerical", "dist": "normal", "mu": mu, "sigma": sigma, "mean": mu, "std": sigma}
        elif i < 14:
            m, s = float(rng.uniform(0.0, 2.0)), float(rng.uniform(0.25, 0.75))
            mean = float(np.exp(m + s * s / 2))
            std = float(np.sqrt((np.exp(s * s) - 1) * np.exp(2 * m + s * s)))
            specs[name] = {"type": "numerical", "dist": "lognormal", "m": m, "s": s, "mean": mean, "std": std}
        else:
            a = float(rng.uniform(-10, 10))
            b = a + float(rng.uniform(1, 20))
            specs[name] = {"type": "numerical", "dist": "uniform", "a": a, "b": b, "mean": (a + b) / 2}
            specs[name]["std"] = (b - a) / np.sqrt(12)
    for j, k in enumerate(CAT_LEVELS):
        p = np.sort(rng.dirichlet(np.full(k, 1.5)))[::-1]
        specs[f"cat_{j}"] = {
            "type": "categorical",
            "levels": [f"v{x:02d}" for x in range(k)],
            "p": [float(x) for x in p],
        }
    return specs


def _numeric(rng: np.random.Generator, spec: dict, n: int) -> np.ndarray:
    if spec["dist"] == "normal":
        return rng.normal(spec["mu"], spec["sigma"], n)
    if spec["dist"] == "lognormal":
        return rng.lognormal(spec["m"], spec["s"], n)
    return rng.uniform(spec["a"], spec["b"], n)


def make_frame(seed: int, n: int, which: str, specs: dict) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, n, {"reference": 1, "current": 2}[which]])
    cols: dict[str, np.ndarray] = {}
    cat0_index = None
    for name, spec in specs.items():
        if spec["type"] == "numerical":
            x = _numeric(rng, spec, n)
            if which == "current" and name in MEAN_SHIFT_COLS:
                x = x + 0.5 * spec["std"]
            elif which == "current" and name in SCALE_COLS:
                x = spec["mean"] + 1.5 * (x - spec["mean"])
            cols[name] = x
        else:
            p = np.asarray(spec["p"])
            if which == "current" and name in CAT_DRIFT_COLS:
                p = (1.0 - CAT_MIX) * p + CAT_MIX * p[::-1]
            idx = rng.choice(len(p), size=n, p=p / p.sum())
            cat0_index = idx if name == "cat_0" else cat0_index
            cols[name] = np.asarray(spec["levels"], dtype=object)[idx]

    def z(c: str) -> np.ndarray:
        return (cols[c] - specs[c]["mean"]) / specs[c]["std"]

    effect = (np.asarray([int(v[1:]) for v in specs["cat_0"]["levels"]]) - 2.0) * 0.3
    logit = 0.8 * z("num_00") - 0.6 * z("num_02") + 0.5 * z("num_10") + 0.4 * z("num_16") + effect[cat0_index]
    logit = logit + rng.normal(0.0, 0.5, n) - 0.3
    score = 1.0 / (1.0 + np.exp(-logit))
    cols["prediction"] = score
    cols["label"] = (rng.uniform(0.0, 1.0, n) < score).astype(np.int64)
    return cols


# --- server, database, deploys ------------------------------------------------------------------


def server_env(args: argparse.Namespace) -> dict[str, str]:
    return {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tracker.settings",
    }


SETUP = """
import django
django.setup()
from datetime import timedelta
from django.utils import timezone
from deployments.services import deploy_processed_mark, deploy_record
from tracker.services import project_create, token_issue
project = project_create(slug="bench", name="bench")
now = timezone.now()
ids = []
for version, ago in (("reference", 3), ("current", 2), ("warm-up", 1)):
    deploy, _ = deploy_record(project=project, service="bench-svc", environment="production", version=version,
                              finished_at=now - timedelta(hours=ago))
    deploy_processed_mark(deploy_id=deploy.pk)  # link the baseline now: no worker runs during the benchmark
    ids.append(deploy.pk)
print(token_issue(project=project, name="bench", scopes=["ingest"])[1], ids[0], ids[1])  # warm-up is ids[2]
"""


def prepare(args: argparse.Namespace) -> tuple[str, int, int]:
    env = server_env(args)
    dbname = args.database_url.rsplit("/", 1)[1]
    admin_url = args.database_url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {dbname}"], capture_output=True, check=True)
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {dbname}"], capture_output=True, check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run([sys.executable, "-c", SETUP], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    token, reference, current = out.stdout.split()[-3:]
    return token, int(reference), int(current)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: argparse.Namespace, port: int) -> subprocess.Popen:
    command = [sys.executable, "-m", "gunicorn", "tracker.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(args.workers)]
    server = subprocess.Popen([*command, "--timeout", "120", "--log-level", "warning"], cwd=ROOT, env=server_env(args))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    sys.exit("gunicorn did not start")


# --- ingest ------------------------------------------------------------------------------------


def batch_body(frame: dict[str, np.ndarray], deploy_id: int, start: int, size: int) -> bytes:
    part = {name: values[start : start + size] for name, values in frame.items()}
    features = {
        name: values.tolist() if values.dtype == object else values
        for name, values in part.items()
        if name not in ("prediction", "label")
    }
    body = {
        "service": "bench-svc",
        "environment": "production",
        "deploy": deploy_id,
        "columns": features,
        "prediction": part["prediction"],
        "label": part["label"],
    }
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def warm_up(port: int, token: str, job: tuple[dict, int, int], args: argparse.Namespace) -> None:
    """Load every gunicorn worker's imports with a 100-row batch to a third deploy, outside the timing."""
    frame, _, _ = job
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = json.loads(batch_body(frame, 0, 0, 100))
    del body["deploy"]  # attributed by time: the warm-up deploy is the newest
    for _ in range(2 * args.workers):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        conn.request("POST", "/api/v1/predictions", body=orjson.dumps(body), headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status != 202:
            sys.exit(f"warm-up batch failed: {response.status}")


def ingest(args: argparse.Namespace, port: int, token: str, jobs: list[tuple[dict, int, int]]) -> dict:
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    queue = iter(jobs)

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        while True:
            with lock:
                job = next(queue, None)
            if job is None:
                break
            body = batch_body(*job, args.batch)
            started = time.perf_counter()
            conn.request("POST", "/api/v1/predictions", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            with lock:
                latencies.append(time.perf_counter() - started)
                if response.status != 202:
                    failures.append(f"{response.status}: {payload[:300]!r}")
        conn.close()

    warm_up(port, token, jobs[0], args)
    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    rows = len(jobs) * args.batch
    return {
        "rows": rows,
        "wall_s": wall,
        "rows_per_s": rows / wall,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * sorted(latencies)[max(0, math.ceil(0.99 * len(latencies)) - 1)],
        "failures": failures,
    }


# --- the drift task, in a fresh process ---------------------------------------------------------


def memory_mb(field: str) -> float:
    """From /proc/self/status. Not ru_maxrss: Linux carries the parent's peak across fork and exec, and
    the parent here holds two million generated rows."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure_task(deploy_id: int, runs: int) -> None:
    """Child process: time `drift_compute` (cold, then `runs` warm) and report peak RSS as JSON on stdout."""
    import django

    django.setup()
    from deployments.models import Deploy
    from metrics.drift.services import drift_compute

    def load() -> Deploy:
        return Deploy.objects.select_related("service", "baseline").get(pk=deploy_id)

    load()  # connect to the database before measuring
    rss_before = memory_mb("VmHWM")
    times, cpu = [], []
    for _ in range(runs + 1):
        started, cpu_started = time.perf_counter(), time.process_time()
        report = drift_compute(deploy=load())
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    columns = report.result["columns"]
    print(
        json.dumps(
            {
                "cold_s": times[0],
                "warm_median_s": statistics.median(times[1:]) if runs else None,
                "cold_cpu_s": cpu[0],
                "warm_median_cpu_s": statistics.median(cpu[1:]) if runs else None,
                "compute_ms_stored": report.compute_ms,
                "rss_before_mb": rss_before,
                "peak_rss_mb": memory_mb("VmHWM"),
                "drifted": sorted(c["column"] for c in columns if c["verdict"] == "drifted"),
                "methods": sorted({c["method"] for c in columns}),
                "n_ref": {c["column"]: c["n_ref"] for c in columns},
                "columns": len(columns),
            }
        )
    )


def run_task(args: argparse.Namespace, deploy_id: int) -> dict:
    command = [sys.executable, __file__, "--measure-task", str(deploy_id), "--task-runs", str(args.task_runs)]
    out = subprocess.run(command, cwd=ROOT, env=server_env(args), check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- the Evidently peer ---------------------------------------------------------------------------


def run_peer(args: argparse.Namespace) -> dict:
    peer_dir = Path(args.peer_dir)
    if not (peer_dir / "data" / f"reference_{args.rows}.parquet").exists():
        subprocess.run([args.peer_python, "gen_data.py", "--n", str(args.rows)], cwd=peer_dir, check=True)
    command = [args.peer_python, "peer_evidently.py", "--n", str(args.rows), "--runs", str(args.peer_runs)]
    subprocess.run([*command, "--max-seconds", "1800"], cwd=peer_dir, check=True)
    return json.loads((peer_dir / "results" / f"evidently_{args.rows}.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per side")
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--task-runs", type=int, default=3)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/dt_drift_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/4")
    parser.add_argument("--peer-python", help="python of a separate venv with evidently (never a project dependency)")
    parser.add_argument("--peer-dir", help="a writable copy of ../shared/bench")
    parser.add_argument("--peer-runs", type=int, default=3)
    parser.add_argument("--measure-task", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_task:
        sys.path.insert(0, str(ROOT))
        measure_task(args.measure_task, args.task_runs)
        return

    specs = column_specs(SEED)
    started = time.perf_counter()
    reference, current = (make_frame(SEED, args.rows, which, specs) for which in ("reference", "current"))
    print(
        f"data: {args.rows:,} rows per side, {len(reference)} columns, "
        f"generated in {time.perf_counter() - started:.1f}s"
    )
    token, reference_id, current_id = prepare(args)
    port = free_port()
    server = start_server(args, port)
    try:
        starts = range(0, args.rows, args.batch)
        jobs = [(reference, reference_id, s) for s in starts] + [(current, current_id, s) for s in starts]
        result = ingest(args, port, token, jobs)
    finally:
        server.terminate()
        server.wait(timeout=30)
    if result["failures"]:
        sys.exit(f"{len(result['failures'])} batches failed, first: {result['failures'][0]}")
    print(
        f"ingest: {result['rows']:,} rows in {result['wall_s']:.1f}s = {result['rows_per_s']:,.0f} rows/s "
        f"({args.clients} clients, {args.workers} gunicorn workers, batches of {args.batch:,}; "
        f"p50 {result['p50_ms']:.0f} ms, p99 {result['p99_ms']:.0f} ms)"
    )
    task = run_task(args, current_id)
    found_ok = task["drifted"] == TRUTH
    print(
        f"drift task: cold {task['cold_s']:.3f}s (CPU {task['cold_cpu_s']:.3f}s), "
        f"warm median {task['warm_median_s']:.3f}s "
        f"(CPU {task['warm_median_cpu_s']:.3f}s) over {args.task_runs} runs; "
        f"peak RSS {task['peak_rss_mb']:.0f} MB (process before the task: {task['rss_before_mb']:.0f} MB); "
        f"{task['columns']} columns, n per side {task['n_ref']['num_00']:,}, methods {task['methods']}"
    )
    print(f"drifted columns found: {task['drifted']} -> {'equal to the truth' if found_ok else f'truth is {TRUTH}'}")
    if args.peer_python and args.peer_dir:
        peer = run_peer(args)
        median = peer["median"]
        ratio = median["end_to_end_s"] / task["cold_s"]
        print(
            f"evidently DataDriftPreset: median end_to_end {median['end_to_end_s']:.1f}s, "
            f"peak {median['peak_rss_mb']:.0f} MB "
            f"over {peer['n_runs_ok']} runs, truth {peer['truth_check']} -> drift task (cold) is {ratio:,.0f}x faster"
        )


if __name__ == "__main__":
    main()
