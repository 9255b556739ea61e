"""Where an ingest request's time goes: POST /api/v1/metrics and /api/v1/predictions through the WSGI app,
in this process, under cProfile (no HTTP server, no client: only the server's own work).

Usage:
    python bench/ingest_profile.py [--batch 1000] [--requests 200] [--kind metrics predictions] [--top 25]
        [--cpu] [--database-url postgres://postgres@127.0.0.1:5432/dt_bench_ingest]

Prints, per kind: the server CPU time per request and per 1,000 points (without the profiler's overhead) and the
CPU of its PostgreSQL backend per 1,000 points (both much less sensitive to the machine's load than wall times), then
the time split into the request path's stages (middleware, authentication, decoding and validation, the store,
the answer), each the cumulative time of its functions under the profiler, then the top functions by own time.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import itertools
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import ingest  # noqa: E402 - bench/ingest.py beside this script: the same world and bodies

# Stages of the request path: (label, file fragment, function name) whose cumulative time is the stage's.
STAGES = [
    ("whole request (WSGIHandler.__call__)", "django/core/handlers/wsgi.py", "__call__"),
    ("  authentication (token lookup, last-used write)", "tracker/auth.py", "authenticate"),
    ("  metrics: decode + validate (msgspec)", "metrics/points.py", "decode_points"),
    ("  metrics: store (points_ingest)", "metrics/impact/services.py", "points_ingest"),
    ("    batch claim (idempotency)", "metrics/impact/services.py", "_batch_claim"),
    ("    services/environments resolve", "metrics/impact/services.py", "_streams_resolve"),
    ("    cardinality admit", "metrics/impact/cardinality.py", "series_admit"),
    ("    attribution to deploys", "metrics/impact/services.py", "_attribute"),
    ("    points grouped into chunks (series, minute)", "metrics/impact/chunks.py", "chunks_of"),
    ("    chunks COPY / bulk insert", "metrics/impact/chunks.py", "chunks_insert"),
    ("      binary COPY body", "metrics/impact/chunks.py", "_copy_binary"),
    ("    rollups, counters, recompute requests (one round trip)", "tracker/sql.py", "execute_together"),
    ("  predictions: decode + validate", "metrics/predictions.py", "decode_batch"),
    ("  predictions: store (samples_ingest)", "metrics/drift/services.py", "samples_ingest"),
    ("    sketches merge", "metrics/drift/services.py", "_merge_batch"),
    ("  transaction commit (and its on_commit callbacks)", "django/db/backends/base/base.py", "commit"),
    ("  JSON answer (DRF render)", "rest_framework/renderers.py", "render"),
    ("  DRF initial (auth, permissions, throttles)", "rest_framework/views.py", "initial"),
]


def env(database_url: str, redis_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        "DJANGO_SETTINGS_MODULE": "tracker.settings",
    }


def prepare(database_url: str, redis_url: str) -> None:
    dbname = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {dbname}"], capture_output=True, check=False)
    migrate = [sys.executable, "manage.py", "migrate", "-v0"]
    subprocess.run(migrate, cwd=ROOT, env=env(database_url, redis_url), check=True)


def backend_pid() -> str:
    """The process id of this process's PostgreSQL backend (its CPU is read from /proc)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return str(cursor.fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--kind", nargs="+", default=["metrics", "predictions"], choices=["metrics", "predictions"])
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--cpu", action="store_true", help="profile CPU time (default: wall time)")
    parser.add_argument("--sort", default="tottime", help="order of the top functions (tottime, cumulative)")
    parser.add_argument("--callees", nargs="*", default=[], help="also print what these functions call (names)")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/dt_bench_ingest")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/3", help="the tasks enqueued wait there")
    args = parser.parse_args()

    prepare(args.database_url, args.redis_url)
    os.environ.update(env(args.database_url, args.redis_url))
    import django

    django.setup()
    from tracker.wsgi import application

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(ingest.SETUP.replace("django.setup()", ""), {})  # noqa: S102 - the benchmark's own setup code
    _, deploy_id, token = out.getvalue().split()[-3:]
    for kind in args.kind:
        next_body = (
            ingest.MetricFeed(args.batch)
            if kind == "metrics"
            else itertools.cycle(ingest.prediction_bodies(args.batch, 24, int(deploy_id))).__next__
        )
        path = f"/api/v1/{kind}"

        def post(path: str = path, next_body: Callable[[], bytes] = next_body) -> None:
            body = next_body()
            environ = {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": path,
                "QUERY_STRING": "",
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": "8000",
                "SERVER_PROTOCOL": "HTTP/1.1",
                "HTTP_HOST": "127.0.0.1",
                "CONTENT_TYPE": "application/json",
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_AUTHORIZATION": f"Bearer {token}",
                "wsgi.input": io.BytesIO(body),
                "wsgi.url_scheme": "http",
                "wsgi.errors": sys.stderr,
                "wsgi.multithread": False,
                "wsgi.multiprocess": True,
                "wsgi.run_once": False,
                "wsgi.version": (1, 0),
            }
            status: list[str] = []
            response = application(environ, lambda s, h, *a: status.append(s))
            b"".join(response)
            response.close()
            if not status[0].startswith(("200", "202")):
                raise SystemExit(f"{path}: {status[0]} {b''.join(response)[:300]!r}")

        for _ in range(20):  # warm-up: imports, connection, caches
            post()
        backend = backend_pid()
        started, db_started = time.process_time(), ingest._cpu_s(backend)
        for _ in range(args.requests):
            post()
        cpu, db_cpu = time.process_time() - started, ingest._cpu_s(backend) - db_started
        points = args.requests * args.batch
        print(
            f"\n== POST {path}, batches of {args.batch:,}: {1000 * cpu / args.requests:.2f} ms CPU per request, "
            f"{1e6 * cpu / points:.2f} ms per 1,000 points (this process, no profiler); database backend "
            f"{1e6 * db_cpu / points:.2f} ms per 1,000 points (/proc, {ingest.TICK_MS:.0f} ms ticks)"
        )
        # --cpu: the profiler counts this process's CPU time, not the wall time (waits on the database vanish).
        profile = cProfile.Profile(time.process_time) if args.cpu else cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            post()
        profile.disable()
        stats = pstats.Stats(profile)
        total = 0.0
        rows = []
        for (file, _, function), (_, _, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
            for label, fragment, name in STAGES:
                if file.endswith(fragment) and function == name:
                    rows.append((label, cumulative))
                    if name == "__call__":
                        total = cumulative
        order = {label: i for i, (label, _, _) in enumerate(STAGES)}
        print("   stage (cumulative, under the profiler)                   ms/request   share")
        for label, cumulative in sorted(rows, key=lambda r: order[r[0]]):
            print(f"   {label:<58}{1000 * cumulative / args.requests:9.2f}   {100 * cumulative / total:5.1f} %")
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats(args.sort).print_stats(args.top)
        print("\n".join(line for line in text.getvalue().splitlines()[6:] if line.strip()))
        for name in args.callees:
            text = io.StringIO()
            pstats.Stats(profile, stream=text).sort_stats("cumulative").print_callees(name)
            print("\n".join(line for line in text.getvalue().splitlines() if line.strip()))


if __name__ == "__main__":
    main()
