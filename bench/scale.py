"""Pages at scale: one project with 10,000 deploys, 10 million metric points and 5 million prediction rows.

Usage:
    python bench/scale.py [--reuse] [--database dt_scale_bench] [--requests 200] [--clients 4] [--workers 2] [--cpu]
                          [--deploys 10000] [--points 10000000] [--rows 5000000] [--judged 200]

Needs PostgreSQL (DATABASE_HOST, default postgres@127.0.0.1:5432). Builds once into its own database (dropped and
created again unless --reuse finds a finished build there):
- 50 services x 3 environments, 10,000 deploys over 90 days (some failed, some rolled back), baselines linked;
- metric points (4 metrics per deploy, its first 65 minutes) stored by the minute in chunks, one per series and
  minute (binary COPY), and their per-minute rollups;
- prediction rows as the product stores them: per deploy and column, the sketch of 500 rows (8 columns), i.e.
  the bounded form 5 million posted rows take (metrics/stats/sketch.py);
- impact and drift reports: --judged deploys (the ones whose pages are measured) judged by the product's own
  code (metrics.impact.analysis, metrics.drift.services); the rest carry a copy of a judged report (same size);
- alerts: the product's rules on the judged deploys, plus a copy on every degraded deploy.
With --cpu, each page's CPU and SQL time per request in this process instead (--requests each; no gunicorn, no
sweep): the pages' own cost, which other load on the machine moves far less than it moves wall-clock time.
Otherwise starts gunicorn (DEBUG off, --workers) and measures server time (gunicorn's own request time, %(D)s) of
each page over --requests requests from --clients concurrent clients; prints p50/p95/p99 and the query count of
one request. The timeline's chart is kept per process while its deploys do not change: its views are measured
as a team re-reading them, and once more while the newest deploy is written every 20 ms (every request draws the
chart afresh). Also times the analysis sweep with 200 deploys in their window (impact and drift computations of one
minute's work, run in this process).
The machine may be shared: figures are what this machine gave at the time (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SERVICES, ENVIRONMENTS = 50, ("production", "staging", "canary")
METRICS = ("latency_ms", "error_rate", "conversion_rate", "accuracy")
FEATURES = 6
ROWS_PER_SKETCH_BATCH = 500
SLUG = "scale"


def database_url(name: str) -> str:
    return f"postgres://{os.environ.get('DATABASE_HOST', 'postgres@127.0.0.1:5432')}/{name}"


def setup_django(name: str) -> None:
    os.environ.update(
        DATABASE_URL=database_url(name), REDIS_URL="", CELERY_BROKER_URL="", INPROCESS_SWEEPS="0", DEBUG="0",
        SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only-secret-key"), DJANGO_SETTINGS_MODULE="tracker.settings",
    )  # fmt: skip
    import django

    django.setup()


def recreate_database(name: str) -> None:
    admin = database_url("postgres")
    for sql in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
        subprocess.run(["psql", admin, "-q", "-c", sql], check=True)


def built(name: str) -> bool:
    done = subprocess.run(
        ["psql", database_url(name), "-tAc", "SELECT value FROM bench_scale_state WHERE key = 'built'"],
        capture_output=True, text=True,
    )  # fmt: skip
    return done.returncode == 0 and done.stdout.strip() == "yes"


# --- build -------------------------------------------------------------------------------------------------


def build(args: argparse.Namespace) -> None:
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0)
    project, deploys = build_deploys(args.deploys)
    print(f"deploys: {len(deploys):,} in {time.perf_counter() - started:.0f} s", flush=True)
    chunks = build_points(project, deploys, args.points)
    print(f"points: {args.points:,} ({chunks:,} chunks) in {time.perf_counter() - started:.0f} s", flush=True)
    build_sketches(deploys, args.rows)
    print(f"sketches for {args.rows:,} rows in {time.perf_counter() - started:.0f} s", flush=True)
    build_reports(deploys, args.judged)
    build_alerts(deploys, args.judged)
    print(f"reports and alerts in {time.perf_counter() - started:.0f} s", flush=True)
    finish(args)


def finish(args: argparse.Namespace) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_scale_state (key text PRIMARY KEY, value text)")
        cursor.execute("INSERT INTO bench_scale_state VALUES ('built', 'yes')")
    subprocess.run(["psql", database_url(args.database), "-q", "-c", "VACUUM ANALYZE"], check=True)
    print("built", flush=True)


def build_deploys(count: int):
    from django.contrib.auth.models import User
    from django.db import connection

    from deployments.models import Deploy, Environment, Service, Status
    from tracker.services import project_create

    owner = User.objects.create_user("bench", "bench@example.com", "bench-password")
    project = project_create(slug=SLUG, name="Scale", owner=owner)
    services = Service.objects.bulk_create(Service(project=project, name=f"svc-{i:02d}") for i in range(SERVICES))
    environments = Environment.objects.bulk_create(Environment(project=project, name=n) for n in ENVIRONMENTS)
    rng = np.random.default_rng(1)
    now = datetime.now(UTC)
    streams = [(s, e) for s in services for e in environments]
    # Deploys spread over 90 days; the newest hour holds a few, so some are in their window.
    ages = np.sort(rng.uniform(0, 90 * 24 * 60, count))[::-1]
    ages[-20:] = np.linspace(50, 5, 20)
    rows = []
    for i, age in enumerate(ages):
        service, environment = streams[int(rng.integers(len(streams)))]
        status = Status.FAILED if rng.random() < 0.04 else Status.SUCCEEDED
        at = now - timedelta(minutes=float(age))
        rows.append(
            Deploy(
                project=project, service=service, environment=environment, version=f"2026.{i}", status=status,
                commit_sha=f"{rng.integers(16**12):012x}{i:028x}", ref="main", author=f"dev{i % 17}",
                ci_url=f"https://ci.example/run/{i}", started_at=at - timedelta(minutes=4), finished_at=at,
                deployed_at=at, commit_timestamp=at - timedelta(hours=3), model_name=f"model-{service.name}",
                model_version=str(i), data_version=f"features-{i // 100}", params={"max_depth": 3 + i % 5},
                strategy="rolling", processed_at=at, changes={},
            )
        )  # fmt: skip
    deploys = Deploy.objects.bulk_create(rows, batch_size=2000)
    previous: dict[tuple[int, int], int] = {}
    links = []
    for deploy in sorted(deploys, key=lambda d: d.deployed_at):
        key = (deploy.service_id, deploy.environment_id)
        if key in previous:
            links.append((deploy.pk, previous[key]))
        if deploy.status == Status.SUCCEEDED:
            previous[key] = deploy.pk
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE links (id bigint, baseline bigint)")
        cursor.copy_expert("COPY links FROM STDIN", io.StringIO("".join(f"{a}\t{b}\n" for a, b in links)))
        cursor.execute(
            f"UPDATE {Deploy._meta.db_table} d SET baseline_id = l.baseline FROM links l WHERE d.id = l.id"  # noqa: S608
        )
    return project, list(Deploy.objects.filter(project=project).order_by("deployed_at"))


def build_points(project, deploys, total: int) -> int:
    """Per deploy, its points over its first 65 minutes (4 metrics), stored as the product stores them: one chunk
    per series and minute (metrics/impact/chunks.py), by binary COPY; the rollups by COPY. Returns the chunk count."""
    from django.db import connection

    from metrics.impact.models import MetricChunk, MetricRollup

    per_deploy = total // len(deploys)
    rng = np.random.default_rng(2)
    chunk_table, rollup_table = MetricChunk._meta.db_table, MetricRollup._meta.db_table
    group, chunks = [], 0
    for index, deploy in enumerate(deploys):
        group.append(deploy)
        if len(group) == 200 or index == len(deploys) - 1:
            body, rollups, made = _chunks_copy(project, group, per_deploy, rng)
            chunks += made
            with connection.cursor() as cursor:
                cursor.copy_expert(
                    f"COPY {chunk_table} ({CHUNK_COLUMNS}) FROM STDIN WITH (FORMAT binary)", io.BytesIO(body)
                )
                cursor.copy_expert(
                    f"COPY {rollup_table} (project_id, service_id, environment_id, name, minute, deploy_key, count, "
                    "total, total_squares, min_value, max_value) FROM STDIN",
                    io.StringIO(rollups),
                )
            group = []
    return chunks


# PostgreSQL's binary COPY (as metrics.impact.chunks writes it): a header, then per row a 16-bit field count and
# each field as a 32-bit length and its bytes, then -1. The fixed-size fields come first, then the name, the
# stamps (big-endian int64 microseconds since the Unix epoch, ascending) and the values (big-endian float64).
CHUNK_COLUMNS = "project_id, service_id, environment_id, deploy_id, minute, count, name, stamps, values"
_CHUNK_HEAD = np.dtype(
    [("fields", ">i2")]
    + [item for key in ("project", "service", "environment", "deploy", "minute") for item in
       ((f"{key}_size", ">i4"), (key, ">i8"))]
    + [("count_size", ">i4"), ("count", ">i4")]
)  # fmt: skip
_NAME_FIELDS = [len(name.encode()).to_bytes(4, "big") + name.encode() for name in METRICS]


def _chunks_copy(project, deploys, per_deploy: int, rng) -> tuple[bytes, str, int]:
    """The deploys' points as chunk rows (a binary COPY body) and their rollups (COPY text), and the chunk count."""
    from metrics.impact.chunks import COPY_HEADER, COPY_TRAILER, MINUTE_US, PG_EPOCH_US

    deploy_of, names_of, micros_of, values_of = [], [], [], []
    for i, deploy in enumerate(deploys):
        shift = 1.15 if deploy.pk % 9 == 0 else 1.0  # some deploys really degrade
        seconds = rng.uniform(0, 65 * 60, per_deploy)
        names = np.arange(per_deploy) % len(METRICS)
        values = np.where(
            names == 0, rng.gamma(3.0, 40.0, per_deploy) * shift,
            np.where(names == 1, rng.poisson(0.4, per_deploy) * shift,
                     np.where(names == 2, rng.normal(0.12, 0.02, per_deploy), rng.beta(40, 8, per_deploy))),
        )  # fmt: skip
        stamps = deploy.deployed_at.timestamp() + seconds
        deploy_of.append(np.full(per_deploy, i))
        names_of.append(names)
        # Microseconds rounded half to even, as the ingest (PointBatch.micros) and the database's time types round.
        micros_of.append(np.rint(stamps * 1e6).astype(np.int64))
        values_of.append(values.astype(np.float64))
    deploy_at, name_at, micros, values = (np.concatenate(a) for a in (deploy_of, names_of, micros_of, values_of))
    minute_at = micros // MINUTE_US
    # One chunk per (deploy, name, minute), its points in time order: the same key as a rollup row.
    order = np.lexsort((micros, minute_at, name_at, deploy_at))
    deploy_at, name_at, minute_at, micros, values = (a[order] for a in (deploy_at, name_at, minute_at, micros, values))
    new = np.ones(len(order), dtype=bool)
    new[1:] = (np.diff(deploy_at) != 0) | (np.diff(name_at) != 0) | (np.diff(minute_at) != 0)
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, len(order)))
    keys_deploy, keys_name, keys_minute = deploy_at[starts], name_at[starts], minute_at[starts]

    service = np.array([d.service_id for d in deploys], dtype=np.int64)
    environment = np.array([d.environment_id for d in deploys], dtype=np.int64)
    pks = np.array([d.pk for d in deploys], dtype=np.int64)
    head = np.zeros(len(starts), dtype=_CHUNK_HEAD)
    head["fields"] = 9
    for key in ("project", "service", "environment", "deploy", "minute"):
        head[f"{key}_size"] = 8
    head["count_size"] = 4
    head["project"] = project.pk
    head["service"], head["environment"] = service[keys_deploy], environment[keys_deploy]
    head["deploy"] = pks[keys_deploy]
    head["minute"] = keys_minute * MINUTE_US - PG_EPOCH_US
    head["count"] = counts
    heads, size = head.tobytes(), _CHUNK_HEAD.itemsize
    stamp_bytes, value_bytes = memoryview(micros.astype(">i8").tobytes()), memoryview(values.astype(">f8").tobytes())
    parts: list[bytes | memoryview] = [COPY_HEADER]
    for i, (name, start, count) in enumerate(zip(keys_name.tolist(), starts.tolist(), counts.tolist(), strict=True)):
        length = (count * 8).to_bytes(4, "big")
        begin, end = start * 8, (start + count) * 8
        parts += [heads[i * size : (i + 1) * size], _NAME_FIELDS[name], length, stamp_bytes[begin:end], length,
                  value_bytes[begin:end]]  # fmt: skip
    parts.append(COPY_TRAILER)

    totals = np.add.reduceat(values, starts)
    squares = np.add.reduceat(values**2, starts)
    lows, highs = np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)
    rollups = io.StringIO()
    for d, name, minute, count, total, square, low, high in zip(
        keys_deploy.tolist(), keys_name.tolist(), keys_minute.tolist(), counts.tolist(), totals.tolist(),
        squares.tolist(), lows.tolist(), highs.tolist(), strict=True,
    ):  # fmt: skip
        deploy = deploys[d]
        iso = datetime.fromtimestamp(minute * 60, tz=UTC).isoformat()
        rollups.write(
            f"{project.pk}\t{deploy.service_id}\t{deploy.environment_id}\t{METRICS[name]}\t{iso}\t{deploy.pk}\t"
            f"{count}\t{total!r}\t{square!r}\t{low!r}\t{high!r}\n"
        )
    return b"".join(parts), rollups.getvalue(), len(starts)


def build_sketches(deploys, total_rows: int) -> None:
    """Each deploy's prediction rows merged into its column sketches, as the ingest service stores them."""
    from metrics.drift.models import ColumnSketch, SampleColumn
    from metrics.stats import sketch as sk

    rng = np.random.default_rng(3)
    per_deploy = total_rows // len(deploys)
    columns: dict[int, list[SampleColumn]] = {}
    for service_id in sorted({d.service_id for d in deploys}):
        names = [("feature", f"f{i}") for i in range(FEATURES)] + [("prediction", "prediction"), ("label", "label")]
        columns[service_id] = SampleColumn.objects.bulk_create(
            SampleColumn(service_id=service_id, role=role, name=name, kind="numeric") for role, name in names
        )
    rows = []
    for deploy in deploys:
        drift = 0.3 if deploy.pk % 7 == 0 else 0.0
        for column in columns[deploy.service_id]:
            values = rng.normal(drift if column.role == "feature" else 0.0, 1.0, per_deploy)
            sketch = sk.numeric_sketch(values, nulls=0, edges=None, rng=rng)
            rows.append(ColumnSketch(deploy=deploy, column=column, data=sk.to_bytes(sketch), n=sketch.n))
        if len(rows) >= 4000:
            ColumnSketch.objects.bulk_create(rows)
            rows = []
    ColumnSketch.objects.bulk_create(rows)


def build_reports(deploys, judged: int) -> None:
    """The measured deploys judged by the product; every other deploy a copy of a judged report."""

    from metrics.drift import services as drift
    from metrics.drift.models import DriftReport
    from metrics.impact import analysis
    from metrics.impact.models import ImpactReport

    sample = measured(deploys, judged)
    for deploy in sample:
        analysis.impact_compute(deploy=deploy)
        drift.drift_compute(deploy=deploy)
    impact_models = list(ImpactReport.objects.filter(deploy__in=sample).exclude(verdict="insufficient_data"))
    drift_models = list(DriftReport.objects.filter(deploy__in=sample, status="ok"))
    done = {d.pk for d in sample}
    ImpactReport.objects.bulk_create(
        [_copy(impact_models[i % len(impact_models)], deploy=d) for i, d in enumerate(deploys) if d.pk not in done],
        batch_size=1000,
    )
    DriftReport.objects.bulk_create(
        [_copy(drift_models[i % len(drift_models)], deploy=d, baseline_id=d.baseline_id)
         for i, d in enumerate(deploys) if d.pk not in done],
        batch_size=1000,
    )  # fmt: skip


def build_alerts(deploys, judged: int) -> None:
    """The alerts the product's rules opened on the judged deploys, copied onto every other degraded deploy."""
    from django.db.models import Q

    from alerts.models import Alert, AlertGroup
    from metrics.impact.models import ImpactReport

    sample = measured(deploys, judged)
    alerts = list(Alert.objects.filter(deploy__in=sample))
    groups = {(g.service_id, g.environment_id): g for g in AlertGroup.objects.all()}
    degraded = ImpactReport.objects.filter(verdict="degraded").exclude(deploy__in=sample)
    copies = []
    for i, report in enumerate(degraded.select_related("deploy").filter(~Q(deploy__baseline=None))):
        if not alerts:
            break
        deploy = report.deploy
        key = (deploy.service_id, deploy.environment_id)
        if key not in groups:
            groups[key] = AlertGroup.objects.create(
                project_id=deploy.project_id, service_id=key[0], environment_id=key[1], key=f"bench-{key[0]}-{key[1]}"
            )
        copies.append(
            _copy(alerts[i % len(alerts)], deploy=deploy, service_id=key[0], environment_id=key[1],
                  group=groups[key], fingerprint=f"bench{deploy.pk:059d}", started_at=deploy.deployed_at,
                  last_evaluated_at=deploy.deployed_at, status="resolved" if i % 5 else "firing",
                  resolved_at=deploy.deployed_at + timedelta(hours=1) if i % 5 else None,
                  resolved_reason="superseded" if i % 5 else "")
        )  # fmt: skip
    Alert.objects.bulk_create(copies, batch_size=1000)


def _copy(model, **changes):
    clone = type(model)(**{f.attname: getattr(model, f.attname) for f in model._meta.concrete_fields})
    clone.pk = None
    for key, value in changes.items():
        setattr(clone, key, value)
    return clone


def measured(deploys, count: int):
    """The deploys whose pages are measured: the newest, and an even spread over the 90 days."""
    with_baseline = [d for d in deploys if d.baseline_id]
    step = max(1, len(with_baseline) // count)
    chosen = {d.pk: d for d in with_baseline[::step][: count - 20]}
    chosen.update({d.pk: d for d in with_baseline[-20:]})
    return list(chosen.values())


# --- measure -----------------------------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> None:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    from deployments.models import Deploy
    from tracker.models import Project
    from tracker.services import token_issue

    project = Project.objects.get(slug=SLUG)
    user = User.objects.get(username="bench")
    session = SessionStore()
    session.update({SESSION_KEY: str(user.pk), HASH_SESSION_KEY: user.get_session_auth_hash(),
                    BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend"})  # fmt: skip
    session.create()
    _, token = token_issue(project=project, name="bench", scopes=["read", "ingest"])
    deploys = measured(list(Deploy.objects.filter(project=project).order_by("deployed_at")), args.judged)
    newest = deploys[-1]
    pages = {
        "timeline (first page)": [f"/{SLUG}/"],
        "timeline (filtered)": [f"/{SLUG}/?" + urlencode({"service": "svc-07", "environment": "production"})],
        "timeline (page 20)": [f"/{SLUG}/?page=20"],
        "timeline (visual, 30 days)": [f"/{SLUG}/?range=30d"],
        CHURNED: [f"/{SLUG}/"],
        "deploy page": [f"/{SLUG}/deploys/{d.pk}/" for d in deploys],
        "service page": [f"/{SLUG}/services/svc-{i:02d}/" for i in range(SERVICES)],
        "alerts": [f"/{SLUG}/alerts/"],
        "DORA (90 days)": [f"/{SLUG}/dora/?days=90"],
        "GET /api/v1/deploys": ["/api/v1/deploys"],
        "GET /api/v1/deploys (filtered)": ["/api/v1/deploys?service=svc-07&environment=production"],
        "GET /api/v1/deploys/{id}/verdict": [f"/api/v1/deploys/{d.pk}/verdict" for d in deploys],
        "GET /api/v1/verdict?service=…&version=…": [
            "/api/v1/verdict?"
            + urlencode(
                {"service": newest.service.name, "environment": newest.environment.name, "version": newest.version}
            )
        ],
        "GET /api/v1/dora": ["/api/v1/dora?days=90"],
        "GET /api/v1/alerts": ["/api/v1/alerts"],
    }
    if args.cpu:
        measure_cpu(pages, session.session_key, token, args.requests)
        return
    queries = {name: count_queries(urls[0], session.session_key, token) for name, urls in pages.items()}
    print(
        f"\n{'page':42} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'queries':>8}  (server time, {args.clients} "
        f"clients, {args.requests} requests each, gunicorn --workers {args.workers})",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "access.log"
        server, port = start_gunicorn(args, log)
        try:
            for name, urls in pages.items():
                with churn(name == CHURNED):
                    times = run_page(port, urls, args, session.session_key, token, log)
                p50, p95, p99 = (float(np.percentile(times, q)) for q in (50, 95, 99))
                flag = "" if p95 < 100 else "  over 100 ms"
                print(f"{name:42} {p50:8.1f} {p95:8.1f} {p99:8.1f} {queries[name]:8d}{flag}", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)


# The timeline keeps its chart's deploys under their stamp (dashboard.selectors.timeline_points): the views above
# are drawn from a kept chart after each process's first request. This one is measured while the newest deploy is
# written every 20 ms (a busy project), so that nearly every request reads and draws the 2,000 deploys again (with
# --cpu: written before each request, in this process, so that every request does).
CHURNED = "timeline (1st page, a write every 20 ms)"


def retag_newest() -> int:
    from deployments.models import Deploy

    newest = Deploy.objects.filter(project__slug=SLUG).order_by("-deployed_at", "-id")[:1]
    return Deploy.objects.filter(pk__in=list(newest.values_list("pk", flat=True))).retag()


@contextlib.contextmanager
def churn(active: bool):
    """While active, a thread gives the project's newest deploy a new change tag every 20 ms."""
    if not active:
        yield
        return
    from django.db import connection

    stop = threading.Event()
    writes = [0]

    def write() -> None:
        try:
            while not stop.wait(0.02):
                writes[0] += retag_newest()
        finally:
            connection.close()

    thread = threading.Thread(target=write)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        print(f"  ({writes[0]} writes to the newest deploy during that page's requests)", flush=True)


def measure_cpu(pages: dict[str, list[str]], session_key: str, token: str, requests: int) -> None:
    """Each page's own cost, in this process through the test client: CPU time (this process) and time inside SQL
    calls (the database's work and the wait for it) per request, after one warm-up request per address. A shared
    machine inflates wall-clock figures; these move far less with other load."""
    import resource

    from django.db import connection
    from django.test import Client

    web, api = Client(), Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    web.cookies["sessionid"] = session_key
    sql = [0.0]

    def timed(execute, sql_text, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql_text, params, many, context)
        finally:
            sql[0] += time.perf_counter() - started

    def get(url: str) -> None:
        response = (api if url.startswith("/api/") else web).get(url, HTTP_HOST="127.0.0.1")
        assert response.status_code == 200, (url, response.status_code)

    print(f"\n{'page':42} {'CPU ms':>8} {'SQL ms':>8}  (in process, mean of {requests} requests, after a warm-up)")
    for name, urls in pages.items():
        for url in urls[:requests]:
            get(url)
        sql[0] = 0.0
        cpu = resource.getrusage(resource.RUSAGE_SELF)
        with connection.execute_wrapper(timed):
            for i in range(requests):
                if name == CHURNED:
                    retag_newest()
                get(urls[i % len(urls)])
        after = resource.getrusage(resource.RUSAGE_SELF)
        used = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
        print(f"{name:42} {used / requests * 1000:8.1f} {sql[0] / requests * 1000:8.1f}", flush=True)


def count_queries(url: str, session_key: str, token: str) -> int:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}") if url.startswith("/api/") else Client()
    client.cookies["sessionid"] = session_key
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, HTTP_HOST="127.0.0.1")
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return len(captured.captured_queries)


def start_gunicorn(args: argparse.Namespace, log: Path):
    port = _free_port()
    env = {**os.environ, "ALLOWED_HOSTS": "127.0.0.1,localhost", "DB_CONN_MAX_AGE": "60"}
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "tracker.wsgi", "-b", f"127.0.0.1:{port}", "--workers", str(args.workers),
         "--access-logfile", str(log), "--access-logformat", "%(U)s %(s)s %(D)s"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    import requests

    for _ in range(300):
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
            return server, port
        except requests.RequestException:
            time.sleep(0.1)
    server.terminate()
    raise SystemExit("gunicorn did not start")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_page(port: int, urls: list[str], args, session_key: str, token: str, log: Path) -> list[float]:
    """--requests requests from --clients threads, each with its own keep-alive connection; server times in ms."""
    import requests

    offset = log.stat().st_size if log.exists() else 0
    counter = iter(range(args.requests))
    lock = threading.Lock()
    failures = []

    def client() -> None:
        http = requests.Session()
        http.cookies.set("sessionid", session_key)
        http.headers["Authorization"] = f"Bearer {token}"
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            url = urls[i % len(urls)]
            response = http.get(f"http://127.0.0.1:{port}{url}", timeout=60)
            if response.status_code != 200:
                failures.append((url, response.status_code))

    requests.get(
        f"http://127.0.0.1:{port}{urls[0]}",
        cookies={"sessionid": session_key},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )  # fmt: skip  (warm-up)
    offset = log.stat().st_size if log.exists() else offset
    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"failed requests: {failures[:5]}")
    time.sleep(0.5)  # gunicorn writes its access log after the answer
    with open(log) as handle:
        handle.seek(offset)
        lines = handle.read().split("\n")
    return [int(m.group(1)) / 1000 for line in lines if (m := re.match(r"\S+ 200 (\d+)$", line))]


# --- the analysis sweep --------------------------------------------------------------------------------------


def measure_sweep(deploys_in_window: int) -> None:
    """One minute's analysis work with N deploys in their window, every one with new data since its last
    computation: the sweep's choice, then each impact and drift computation, in this process."""
    from django.db.models import F
    from django.utils import timezone

    from deployments.models import Deploy
    from metrics.drift import services as drift
    from metrics.impact import tasks as impact_tasks
    from metrics.impact.models import ImpactReport

    now = timezone.now()
    recent = list(Deploy.objects.select_related("service", "baseline").filter(project__slug=SLUG)
                  .exclude(baseline=None).order_by("-deployed_at")[:deploys_in_window])  # fmt: skip
    ids = [d.pk for d in recent]
    # As if they had been deployed within the hour and had new data since their last computation.
    ImpactReport.objects.filter(deploy_id__in=ids).update(
        final=False, data_version=F("computed_version") + 1, sent_at=None, claimed_at=None,
        window_ends_at=now + timedelta(minutes=30), requested_at=now,
    )  # fmt: skip
    sent = []
    original = impact_tasks.send_now
    impact_tasks.send_now = lambda task, deploy_id: sent.append(deploy_id)
    try:
        started = time.perf_counter()
        impact_tasks.impacts_sweep()
        sweep_s = time.perf_counter() - started
    finally:
        impact_tasks.send_now = original
    started = time.perf_counter()
    for deploy_id in sent:
        impact_tasks.impact_compute.run(deploy_id)
    impact_s = time.perf_counter() - started
    started = time.perf_counter()
    for deploy in recent:
        drift.drift_compute(deploy=deploy)
    drift_s = time.perf_counter() - started
    print(f"\nanalysis sweep, {len(recent)} deploys in their window with new data: sweep chose {len(sent)} in "
          f"{sweep_s * 1000:.0f} ms; impact computations {impact_s:.1f} s ({impact_s / max(1, len(sent)) * 1000:.0f} "
          f"ms each); drift computations {drift_s:.1f} s ({drift_s / len(recent) * 1000:.0f} ms each): "
          f"{(sweep_s + impact_s + drift_s) / 60 * 100:.0f} % of one worker's minute")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="dt_scale_bench")
    parser.add_argument("--reuse", action="store_true", help="keep a finished build in --database")
    parser.add_argument("--build-only", action="store_true")
    parser.add_argument("--finish", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--deploys", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--judged", type=int, default=200)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sweep-deploys", type=int, default=200)
    parser.add_argument("--cpu", action="store_true", help="each page's CPU and SQL time in this process instead")
    args = parser.parse_args()
    if args.finish:  # a build that stopped after its reports: add the alerts and mark it finished
        setup_django(args.database)
        from deployments.models import Deploy

        build_alerts(list(Deploy.objects.filter(project__slug=SLUG).order_by("deployed_at")), args.judged)
        finish(args)
    elif not (args.reuse and built(args.database)):
        recreate_database(args.database)
        setup_django(args.database)
        build(args)
    else:
        setup_django(args.database)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)  # a build kept from older code gets this code's schema
    if args.build_only:
        return
    measure(args)
    if not args.cpu:
        measure_sweep(args.sweep_deploys)


if __name__ == "__main__":
    main()
