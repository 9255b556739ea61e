"""Analysis throughput with 1 and 2 Celery worker processes: how many deploys' impact reports one worker judges.

Usage:
    python bench/workers.py [--streams 100] [--points 1000] [--metrics 4] [--concurrency 1 2] [--rounds 2]
        [--database-url postgres://postgres@127.0.0.1:5432/dt_bench_workers] [--redis-url redis://127.0.0.1:6379/7]

What it does: recreates the benchmark database, migrates it and builds --streams services (one environment),
each with a baseline deploy three hours old and a current deploy ten minutes old, in its observation window;
--metrics metrics per deploy with --points points each on each side (the baseline's last window before the
current deploy, the current deploy's minutes since), stored through the product's own ingest service. Then, per
round and per --concurrency value: empties the broker's database, marks every current deploy's impact report
never computed, starts `celery -A tracker worker --concurrency N` (prefork, the docker-compose command) and waits
until it is ready, sends one `impact_compute` message per deploy (what the ingest and the sweep send), and times
until every report has been computed. Prints reports/s, ms per report and the load average.
The machine may be shared: compare figures of one run, taken one right after the other.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

METRIC_NAMES = ("latency_ms", "error_rate", "conversion_rate", "accuracy", "p99_latency_ms", "timeouts")


def setup_django(args: argparse.Namespace) -> None:
    os.environ.update(
        DATABASE_URL=args.database_url, REDIS_URL=args.redis_url, INPROCESS_SWEEPS="0", DEBUG="0",
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only-secret-key"), DJANGO_SETTINGS_MODULE="tracker.settings",
    )  # fmt: skip
    import django

    django.setup()


def recreate_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    for sql in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", admin, "-q", "-c", sql], check=True)


def build(args: argparse.Namespace) -> list[int]:
    """The streams, their two deploys and their points: the current deploys' ids."""
    from datetime import timedelta

    from django.conf import settings
    from django.core.management import call_command
    from django.utils import timezone

    from deployments.services import deploy_processed_mark, deploy_record
    from metrics.impact.services import points_ingest
    from metrics.points import decode_points
    from tracker.models import Project

    call_command("migrate", verbosity=0)
    project = Project.objects.create(slug="bench", name="bench")
    rng = np.random.default_rng(7)
    now = timezone.now()
    window = settings.OBSERVATION_WINDOW_MINUTES
    names = METRIC_NAMES[: args.metrics]
    currents = []
    for s in range(args.streams):
        service = f"svc-{s:03d}"
        stream = {"project": project, "service": service, "environment": "production"}
        baseline, _ = deploy_record(**stream, version="1", finished_at=now - timedelta(hours=3))
        current, _ = deploy_record(**stream, version="2", finished_at=now - timedelta(minutes=10))
        for deploy in (baseline, current):
            deploy_processed_mark(deploy_id=deploy.pk)
        start = current.deployed_at.timestamp()
        sides = ((baseline.pk, start - window * 60, start), (current.pk, start, now.timestamp() - 1))
        for deploy_id, first, last in sides:
            shift = 1.15 if deploy_id == current.pk and s % 5 == 0 else 1.0  # every fifth deploy really degrades
            points = [
                {"service": service, "environment": "production", "name": name, "deploy": deploy_id,
                 "value": float(v) * shift, "timestamp": float(t)}
                for name in names
                for v, t in zip(rng.gamma(3.0, 40.0, args.points), rng.uniform(first, last, args.points), strict=True)
            ]  # fmt: skip
            for i in range(0, len(points), 10_000):
                body = orjson.dumps({"points": points[i : i + 10_000]})
                batch = decode_points(body, "application/json", now=time.time(), retention_days=30)
                points_ingest(project=project, batch=batch)
        currents.append(current.pk)
    return currents


def run_round(args: argparse.Namespace, deploy_ids: list[int], concurrency: int, log_dir: Path) -> float:
    """Seconds from sending one message per deploy until every report is computed, with N worker processes."""
    import redis
    from django.db import close_old_connections
    from django.db.models import Q

    from metrics.impact.models import ImpactReport
    from metrics.impact.tasks import impact_compute
    from tracker.enqueue import send_now

    redis.Redis.from_url(args.redis_url).flushdb()
    reports = ImpactReport.objects.filter(deploy_id__in=deploy_ids)
    reports.update(final=False, computed_at=None, claimed_at=None, sent_at=None)
    log_path = log_dir / f"worker-{concurrency}-{time.monotonic_ns()}.log"
    env = {**os.environ, "DB_CONN_MAX_AGE": "60", "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tracker", "worker", f"--concurrency={concurrency}",
             "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-n", f"bench-{concurrency}-{os.getpid()}@%h"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while "ready." not in log_path.read_text():
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"worker did not start:\n{log_path.read_text()[-2000:]}")
                time.sleep(0.2)
            started = time.perf_counter()
            for deploy_id in deploy_ids:
                send_now(impact_compute, deploy_id)
            while True:
                close_old_connections()
                pending = reports.filter(Q(computed_at=None) | Q(claimed_at__isnull=False))
                if not pending.exists():
                    return time.perf_counter() - started
                if time.perf_counter() - started > 1800:
                    raise SystemExit("reports not computed within 30 minutes")
                time.sleep(0.1)
        finally:
            worker.terminate()
            worker.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--points", type=int, default=1000, help="points per metric and side")
    parser.add_argument("--metrics", type=int, default=4, choices=range(1, len(METRIC_NAMES) + 1))
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/dt_bench_workers")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    args = parser.parse_args()

    recreate_database(args.database_url)
    setup_django(args)
    started = time.perf_counter()
    deploy_ids = build(args)
    per_deploy = args.metrics * args.points * 2
    print(
        f"built {len(deploy_ids)} deploys in their window, {per_deploy:,} points each "
        f"({args.metrics} metrics x {args.points:,} per side) in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    from metrics.impact.models import ImpactReport

    with tempfile.TemporaryDirectory() as tmp:
        for round_number in range(1, args.rounds + 1):
            for concurrency in args.concurrency:
                seconds = run_round(args, deploy_ids, concurrency, Path(tmp))
                load, count = os.getloadavg()[0], len(deploy_ids)
                print(
                    f"round {round_number}, celery worker --concurrency {concurrency}: {count} reports in "
                    f"{seconds:.1f} s = {count / seconds:.1f} reports/s ({seconds / count * 1000:.0f} ms each; "
                    f"{count / seconds * 60:,.0f} per minute), load average {load:.1f}",
                    flush=True,
                )
    verdicts = ImpactReport.objects.filter(deploy_id__in=deploy_ids).values_list("verdict", flat=True)
    print(f"verdicts: {sorted(set(verdicts))}")


if __name__ == "__main__":
    main()
