"""Shadow comparison benchmark: N requests per side (default 1M) into a champion's and a shadow challenger's samples.

Usage:
    python bench/shadow.py [--requests 1000000] [--batch 10000] [--edge 0.02 0.0]
        [--database-url postgres://postgres@127.0.0.1:5432/dt_shadow_bench] [--through-ingest]

What it does, for each --edge (how much more often the challenger is right than the champion, who is right 78 %
of the time; 0.02 should read `better`, 0 `same`):
1. Generates the requests in NumPy: ids `req-<i>`, 0/1 labels, both models' scores.
2. Creates a fresh database (PostgreSQL: drop and create; the URL's database is yours to lose), a project, and per
   scenario a champion and a shadow challenger of one service. Posts both sides in batches of --batch rows, the
   challenger's in another order, through the storing service (`metrics.shadow.services.shadow_samples_store`,
   one transaction per batch as in the ingest), or with --through-ingest through the whole ingest service
   (`metrics.drift.services.samples_ingest`: drift sketches too).
3. Prints the time to store both sides, the requests per second, the process's peak RSS (VmHWM) before and after
   (the generated requests alone take most of it), the Python peak of storing one more batch (tracemalloc), the
   rows stored per deploy against the bound, the pairs, and the time and Python peak memory of GET /shadow's work
   (`shadow_comparison`).
4. Computes the full-data comparison on all N pairs in memory (metrics.stats.shadow.compare) and prints both
   verdicts and p-values side by side.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHAMPION_RIGHT = 0.78


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def requests(n: int, edge: float, seed: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    gen = np.random.default_rng(seed)
    labels = (gen.random(n) < 0.3).astype(float)

    def scores(p_right: float) -> np.ndarray:
        right = gen.random(n) < p_right
        confident = gen.uniform(0.5, 1.0, n)
        return np.where(right == (labels == 1), confident, 1 - confident)

    return [f"req-{i}" for i in range(n)], scores(CHAMPION_RIGHT), scores(CHAMPION_RIGHT + edge), labels


def prepare_database(url: str) -> None:
    os.environ.update(
        {"DATABASE_URL": url, "DEBUG": "0", "SECRET_KEY": "bench-only-secret-key", "REDIS_URL": ""},
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tracker.settings")
    if url.startswith("postgres"):
        dbname, admin_url = url.rsplit("/", 1)[1], url.rsplit("/", 1)[0] + "/postgres"
        subprocess.run(["psql", admin_url, "-qc", f"DROP DATABASE IF EXISTS {dbname}"], capture_output=True, check=True)
        subprocess.run(["psql", admin_url, "-qc", f"CREATE DATABASE {dbname}"], capture_output=True, check=True)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=os.environ, check=True)


def batch_of(service: str, deploy_id: int, ids: list[str], predictions: np.ndarray, labels: np.ndarray | None):
    from metrics.predictions import PredictionBatch, typed_column

    columns = [typed_column("prediction", "prediction", predictions.tolist())]
    if labels is not None:
        columns.append(typed_column("label", "label", labels.tolist()))
    return PredictionBatch(
        service=service,
        environment="production",
        deploy=deploy_id,
        batch_id=None,
        n_rows=len(ids),
        timestamps=np.full(len(ids), time.time()),
        columns=columns,
        request_ids=ids,
    )


def post_side(project, deploy, ids, predictions, labels, order, batch: int, through_ingest: bool) -> None:
    from django.db import transaction

    from metrics.drift.services import samples_ingest
    from metrics.shadow.services import shadow_samples_store

    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        part = batch_of(
            deploy.service.name,
            deploy.pk,
            [ids[i] for i in rows],
            predictions[rows],
            None if labels is None else labels[rows],
        )
        if through_ingest:
            samples_ingest(project=project, batch=part)
        else:
            with transaction.atomic():
                shadow_samples_store(batch=part, row_deploys=np.full(len(rows), deploy.pk, dtype=np.int64))


def scenario(project, args: argparse.Namespace, edge: float, index: int) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from deployments.services import deploy_processed_mark, deploy_record
    from metrics.shadow.models import ShadowSample
    from metrics.shadow.selectors import shadow_comparison
    from metrics.stats import shadow as stats_shadow

    now = timezone.now()
    service = f"bench-{index}"
    champion, _ = deploy_record(
        project=project, service=service, environment="production", version="1", finished_at=now - timedelta(hours=2)
    )
    challenger, _ = deploy_record(
        project=project,
        service=service,
        environment="production",
        version="2",
        strategy="shadow",
        finished_at=now - timedelta(hours=1),
    )
    for deploy in (champion, challenger):
        deploy_processed_mark(deploy_id=deploy.pk)
    challenger.refresh_from_db()
    ids, champ, chall, labels = requests(args.requests, edge, seed=index)
    n = len(ids)
    rss_before = vm_hwm_mb()
    started = time.perf_counter()
    post_side(project, champion, ids, champ, labels, np.arange(n), args.batch, args.through_ingest)
    reverse_order = np.random.default_rng(index + 100).permutation(n)
    post_side(project, challenger, ids, chall, None, reverse_order, args.batch, args.through_ingest)
    store_s = time.perf_counter() - started
    stored = [ShadowSample.objects.filter(deploy=d).count() for d in (champion, challenger)]

    tracemalloc.start()
    started = time.perf_counter()
    sampled = shadow_comparison(deploy=challenger)
    compare_ms = (time.perf_counter() - started) * 1000
    compare_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    started = time.perf_counter()
    full = stats_shadow.compare(stats_shadow.Pairs(chall, champ, labels), threshold=0.5)
    full_ms = (time.perf_counter() - started) * 1000

    # One more batch of new requests to the champion, traced: the Python memory a batch's storing needs.
    extra = [f"extra-{i}" for i in range(args.batch)]
    tracemalloc.start()
    post_side(
        project,
        champion,
        extra,
        champ[: args.batch],
        labels[: args.batch],
        np.arange(args.batch),
        args.batch,
        args.through_ingest,
    )
    batch_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    print(f"\n== edge {edge:+.3f}: {n:,} requests per side, batches of {args.batch:,}")
    print(f"store both sides: {store_s:.1f} s ({2 * n / store_s:,.0f} rows/s)")
    print(f"peak RSS: {rss_before:.0f} MB before storing, {vm_hwm_mb():.0f} MB after")
    print(f"one more batch of {args.batch:,} rows: Python peak {batch_peak:.1f} MB (tracemalloc)")
    print(
        f"stored rows: champion {stored[0]:,}, challenger {stored[1]:,} (bound {stats_shadow.SAMPLE_SIZE:,} per deploy)"
    )
    print(f"pairs: {sampled['n_pairs']:,} (sample rate {sampled['sample_rate']:.5f})")
    print(
        f"GET /shadow work: {compare_ms:.0f} ms, Python peak {compare_peak:.1f} MB; full-data compare {full_ms:.0f} ms"
    )
    for name, result in (("sampled", sampled), ("full data", full)):
        quality, shift = result["quality"], result["shift"]
        print(
            f"{name:>9}: verdict {result['verdict']:<8} McNemar p {quality['p']:.3g} (b {quality['b']:,}, c "
            f"{quality['c']:,}); agreement {result['agreement']['share']:.4f}; shift p {shift['p']:.3g}"
        )
    print("verdicts match" if sampled["verdict"] == full["verdict"] else "VERDICTS DIFFER")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--edge", type=float, nargs="+", default=[0.02, 0.0])
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/dt_shadow_bench")
    parser.add_argument("--through-ingest", action="store_true")
    args = parser.parse_args()
    prepare_database(args.database_url)
    import django

    django.setup()
    from tracker.services import project_create

    project = project_create(slug="bench", name="bench")
    for index, edge in enumerate(args.edge):
        scenario(project, args, edge, index)


if __name__ == "__main__":
    main()
