"""Time the concurrent judge: a canary and its control, 1M requests (points) per side, in the same window.

Usage: python bench/concurrent_impact.py [--points 1000000] [--segments 20] [--runs 3]
       python bench/concurrent_impact.py --database-url postgres://postgres@127.0.0.1:5432/dt_bench_concurrent [...]

Without --database-url: pure computation (no Django, no database), four figures, each the median of --runs runs
with its peak traced memory (tracemalloc, in one more run as it slows allocations; NumPy's buffers included)
and, at the end, the process's peak resident size:

1. whole: `judge_metric` on every point of both arms (1M against 1M: the U test exact in n, the Hodges-Lehmann
   interval from compressed sides), against SciPy's `mannwhitneyu` on the same arrays (time and p);
2. sampled: what a report computes from the database: a stratified sample of 25,000 values per side
   (MAX_JUDGED_VALUES), with the exact counts;
3. segments: the points split by a `region` label into --segments values (Zipf-like volumes), each value
   judged on all of its points like the whole, then ordered worst first; one region carries a regression;
4. segments sampled: the same on the 25,000-per-side sample (as the database path reads it).

With --database-url (PostgreSQL; the database is created if missing, migrated, and its point tables emptied):
the same two arms are stored through the ingest service (batches of 10,000, labels and the `deploy` attribution
included), a 1.0 baseline and a 1.1 canary at 10 % beside it, `segment_labels: ["region"]`; then the whole
report (`metrics.impact.analysis.impact_compute`: concurrent mode, the metric and its 20 region segments) is
computed --runs times (then once traced): wall time, queries, peak traced memory, the verdict and the worst
segment with its estimated and its counted size.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from scipy import stats

from metrics.stats import impact

MAX_JUDGED_VALUES = 25_000  # as metrics.impact.analysis (not imported: that module needs Django)


def make_arms(points: int, segments: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Latency-like values (gamma) for the control and the canary, a region code per point; the canary's
    last region (the smallest) is 30 % slower, the rest alike."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, segments + 1)
    weights /= weights.sum()
    control, canary = rng.gamma(3.0, 40.0, points), rng.gamma(3.0, 40.0, points)
    control_region = rng.choice(segments, points, p=weights)
    canary_region = rng.choice(segments, points, p=weights)
    canary[canary_region == segments - 1] *= 1.3
    return {"control": control, "canary": canary, "control_region": control_region, "canary_region": canary_region}


def sample(values: np.ndarray, regions: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Evenly spaced points in time order: what the minute-stratified read returns for a steady stream."""
    if len(values) <= size:
        return values, regions
    idx = np.linspace(0, len(values) - 1, size).astype(np.int64)
    return values[idx], regions[idx]


def judge_segments(
    rule: impact.MetricRule, control: np.ndarray, canary: np.ndarray, control_region, canary_region, segments: int
) -> list[impact.Segment]:
    found = []
    for value in range(segments):
        c, b = canary[canary_region == value], control[control_region == value]
        judged = impact.judge_metric(impact.segment_rule(rule, "region", str(value)), b, c)
        judged.name = rule.name
        found.append(impact.judge_segment("region", str(value), int((canary_region == value).sum()), [judged]))
    return impact.worst_first(found)


def measure(label: str, runs: int, work: Callable[[], object]) -> object:
    """Timed runs without tracing (tracemalloc slows every allocation), then one traced run for the peak."""
    work()  # warm-up: imports, SciPy's first-call setup
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"{label:<44} median {statistics.median(times):7.3f} s  (min {min(times):.3f}, max {max(times):.3f})"
        f"  peak traced {peak / 2**20:7.1f} MiB"
    )
    return result


def database_setup(url: str) -> None:
    """Create and migrate the benchmark database, then set Django up against it (tasks stay in-process)."""
    name, admin = url.rsplit("/", 1)[1], url.rsplit("/", 1)[0] + "/postgres"
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], capture_output=True, check=False)
    os.environ.update(DJANGO_SETTINGS_MODULE="tracker.settings", DATABASE_URL=url, REDIS_URL="", DEBUG="0",
                      SECRET_KEY="bench-only-secret-key")  # fmt: skip
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def database_run(args: argparse.Namespace, arms: dict[str, np.ndarray]) -> None:
    from datetime import UTC, datetime, timedelta

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from deployments.models import Deploy
    from deployments.services import deploy_processed_mark, deploy_record, service_get_or_create
    from deployments.settings_services import service_settings_update
    from metrics.impact.analysis import impact_compute
    from metrics.impact.chunks import STAMP
    from metrics.impact.models import ImpactReport, MetricChunk, MetricRollup
    from metrics.impact.services import points_ingest
    from metrics.points import PointBatch
    from tracker.models import Project

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {MetricChunk._meta.db_table}, {MetricRollup._meta.db_table}")
    project, _ = Project.objects.get_or_create(slug="bench-concurrent", defaults={"name": "bench concurrent"})
    Deploy.objects.filter(project=project).delete()
    now = timezone.now()
    made = {}
    for version, ago, extra in (("1.0", 600, {}), ("1.1", 62, {"strategy": "canary", "traffic_percent": 10})):
        deploy, _ = deploy_record(project=project, service="bench-svc", environment="production", version=version,
                                  finished_at=now - timedelta(minutes=ago), **extra)  # fmt: skip
        made[version] = deploy_processed_mark(deploy_id=deploy.pk)
        # No recomputation per stored batch: the benchmark computes the report itself.
        ImpactReport.objects.update_or_create(deploy=deploy, defaults={"requested_at": now + timedelta(days=1)})
    service_settings_update(service=service_get_or_create(project=project, name="bench-svc"), environment=None,
                            changes={"segment_labels": ["region"]})  # fmt: skip
    start = time.perf_counter()
    # Both arms spread over the canary's current window (after its 5-minute warm-up, to now).
    first, last = (now - timedelta(minutes=56)).timestamp(), (now - timedelta(seconds=30)).timestamp()
    for version, values, regions in (("1.0", arms["control"], arms["control_region"]),
                                     ("1.1", arms["canary"], arms["canary_region"])):  # fmt: skip
        stamps = np.linspace(first, last, len(values))
        for i in range(0, len(values), 10_000):
            part = slice(i, i + 10_000)
            n = len(values[part])
            batch = PointBatch(
                services=["bench-svc"] * n, environments=["production"] * n, names=["latency_ms"] * n,
                values=values[part], timestamps=stamps[part], labels=[{"region": f"r{r}"} for r in regions[part]],
                deploys=[version] * n,
            )  # fmt: skip
            points_ingest(project=project, batch=batch)
    stored = time.perf_counter() - start
    print(f"stored {2 * args.points:,} points in {stored:.1f} s ({2 * args.points / stored:,.0f} points/s)")
    canary = Deploy.objects.select_related("service").get(pk=made["1.1"].pk)
    times = []
    for _ in range(args.runs):
        with CaptureQueriesContext(connection) as queries:
            began = time.perf_counter()
            report = impact_compute(deploy=canary)
            times.append(time.perf_counter() - began)
    tracemalloc.start()
    impact_compute(deploy=canary)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"impact_compute (concurrent, 1 metric, {len(report.segments['region'])} segments): "
          f"median {statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f}), "
          f"{len(queries.captured_queries)} queries, peak traced {peak / 2**20:.1f} MiB")  # fmt: skip
    metric, worst = report.metrics[0], report.segments["region"][0]
    window = report.current_window
    # The worst segment's points in the current window, counted in the chunks: the chunks of the window's minutes
    # (a chunk holds its minute's points), each chunk's stamps decoded so that the count is exact even if a
    # window's edge were not on a whole minute.
    start_us, end_us = (round(datetime.fromisoformat(window[edge]).timestamp() * 1e6) for edge in ("start", "end"))
    chunks = MetricChunk.objects.filter(
        deploy_id=canary.pk, labels__region=worst["value"],
        minute__gte=datetime.fromtimestamp(start_us // 60_000_000 * 60, tz=UTC), minute__lt=window["end"],
    ).values_list("stamps", flat=True)  # fmt: skip
    counted = 0
    for stamps in chunks.iterator(chunk_size=2000):
        times = np.frombuffer(stamps, dtype=STAMP)
        counted += int(((times >= start_us) & (times < end_us)).sum())
    print(f"   mode {report.mode}, verdict {report.verdict}; n {metric['n_baseline']:,}/{metric['n_current']:,} "
          f"judged {metric['judged_baseline']:,}/{metric['judged_current']:,}; worst segment "
          f"region={worst['value']} {worst['verdict']} (n={worst['n']:,} estimated: {worst['n_estimated']}, "
          f"counted {counted:,}; failing {worst['failed']})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000, help="per side")
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", help="PostgreSQL: store the arms and time the whole report instead")
    args = parser.parse_args()

    if args.database_url:
        database_setup(args.database_url)
        database_run(args, make_arms(args.points, args.segments))
        return
    arms = make_arms(args.points, args.segments)
    control, canary = arms["control"], arms["canary"]
    rule = impact.MetricRule("latency_ms", impact.INCREASE_IS_BAD)
    print(f"{args.points:,} points per side, {args.segments} region segments, {args.runs} runs each")

    whole = measure(
        "1. whole: judge_metric on every point", args.runs, lambda: impact.judge_metric(rule, control, canary)
    )
    reference = measure(
        "   SciPy mannwhitneyu on the same arrays", args.runs,
        lambda: stats.mannwhitneyu(canary, control, alternative="two-sided"),
    )  # fmt: skip
    interval = f"[{whole.hl_ci_low:.4g}, {whole.hl_ci_high:.4g}] ({whole.hl_method})"
    print(f"   {whole.classification}, p = {whole.p_value:.6g} (SciPy {reference.pvalue:.6g}), "
          f"shift {whole.hl_estimate:.4g} {interval}")  # fmt: skip

    b, b_region = sample(control, arms["control_region"], MAX_JUDGED_VALUES)
    c, c_region = sample(canary, arms["canary_region"], MAX_JUDGED_VALUES)
    sampled = measure(
        "2. sampled: 25,000 per side, exact counts", args.runs,
        lambda: impact.judge_metric(rule, b, c, n_baseline=args.points, n_current=args.points),
    )  # fmt: skip
    print(f"   {sampled.classification}, p = {sampled.p_value:.6g}")

    found = measure(
        "3. segments: every point, per region", args.runs,
        lambda: judge_segments(rule, control, canary, arms["control_region"], arms["canary_region"], args.segments),
    )  # fmt: skip
    worst = found[0]
    print(f"   worst first: region={worst.value} {worst.verdict.verdict} (n={worst.volume:,}); "
          f"others: {sorted({s.verdict.verdict for s in found[1:]})}")  # fmt: skip

    found = measure(
        "4. segments sampled: 25,000 per side", args.runs,
        lambda: judge_segments(rule, b, c, b_region, c_region, args.segments),
    )  # fmt: skip
    worst = found[0]
    print(f"   worst first: region={worst.value} {worst.verdict.verdict} (judged n={worst.volume:,}); "
          f"others: {sorted({s.verdict.verdict for s in found[1:]})}")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    arms_mib = 2 * args.points * 16 / 2**20
    print(f"peak resident size of the process: {peak:.0f} MiB (the two arms alone: {arms_mib:.0f} MiB)")


if __name__ == "__main__":
    main()
