"""Accuracy of the bounded drift paths: the report `bench/drift.py` left in its database against exact
statistics on all rows (regenerated with the same generator), and against Evidently's scores if given.
Prints the worst column of each statistic (Wasserstein/std and PSI as reported; KS recomputed from the
stored sketches; Jensen-Shannon) against issue #16's tolerance: 1 % of the exact value or 0.002.

Usage: python bench/drift_accuracy.py [--rows 1000000] [--database-url postgres://…/dt_drift_bench]
                                      [--evidently /tmp/peer-bench/results/evidently_1000000.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import django
import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import drift as bench  # noqa: E402 - bench/drift.py, the generator

from metrics.stats import drift  # noqa: E402


def stored_report(database_url: str) -> dict:
    """The drift report of the deploy `bench/drift.py` posted as 'current', read through the ORM."""
    os.environ.update({"DJANGO_SETTINGS_MODULE": "tracker.settings", "DATABASE_URL": database_url, "DEBUG": "1"})
    django.setup()
    from metrics.drift.models import DriftReport

    return DriftReport.objects.get(deploy__version="current").result


def stored_sketches() -> dict[str, tuple]:
    """Both deploys' stored sketches by column (after `stored_report` set Django up)."""
    from metrics.drift.models import ColumnSketch
    from metrics.stats import sketch

    out: dict[str, dict] = {}
    for row in ColumnSketch.objects.select_related("deploy", "column"):
        out.setdefault(row.column.name, {})[row.deploy.version] = sketch.from_bytes(
            bytes(row.data), edges=row.column.edges_array()
        )
    return {name: (s["reference"], s["current"]) for name, s in out.items() if {"reference", "current"} <= set(s)}


def within(error: float, exact: float) -> bool:
    """Issue #16's tolerance: 1 % of the exact value, or 0.002 absolute."""
    return error <= max(0.01 * abs(exact), 0.002)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/dt_drift_bench")
    parser.add_argument("--evidently", help="results/evidently_<N>.json of the peer run")
    args = parser.parse_args()
    specs = bench.column_specs(bench.SEED)
    ref, cur = (bench.make_frame(bench.SEED, args.rows, which, specs) for which in ("reference", "current"))
    report = {c["column"]: c for c in stored_report(args.database_url)["columns"]}
    sketches = stored_sketches()
    peer = {}
    if args.evidently:
        peer = {c["column"]: c["drift_score"] for c in json.loads(Path(args.evidently).read_text())["columns"]}
    errors: dict[str, list[tuple[float, float, str]]] = {"W/std": [], "KS": [], "PSI": [], "JS": []}
    bounds, peer_err = [], []
    for name, column in sorted(report.items()):
        if column["method"] == "wasserstein":
            exact = drift.wasserstein_norm(ref[name], cur[name])
            exact_psi = drift.psi_on_deciles(ref[name], cur[name])[0]
            exact_ks = stats.ks_2samp(ref[name], cur[name]).statistic
            ks = drift.compare_column(*sketches[name], column=name, kind="numeric", settings=ks_for(name))
            errors["W/std"].append((abs(column["score"] - exact), exact, name))
            errors["PSI"].append((abs(column["psi"] - exact_psi), exact_psi, name))
            errors["KS"].append((abs(ks.statistic - exact_ks), exact_ks, name))
            bounds.append((column["error_bound"], ks.error_bound))
            if name in peer:
                peer_err.append(abs(column["score"] - peer[name]))
            print(
                f"{name:11s} W/std {column['score']:.5f} exact {exact:.5f} (bound {column['error_bound']:.4f})"
                f"  KS {ks.statistic:.5f} exact {exact_ks:.5f} (bound {ks.error_bound:.4f})"
                f"  PSI {column['psi']:.4f} exact {exact_psi:.4f}  evidently {peer.get(name, float('nan')):.4f}"
                f"  {column['verdict']}"
            )
        else:
            levels = sorted(set(ref[name]) | set(cur[name]))
            counts = [np.array([np.sum(side == level) for level in levels]) for side in (ref[name], cur[name])]
            exact = drift.jensen_shannon(*counts)
            errors["JS"].append((abs(column["score"] - exact), exact, name))
            print(f"{name:11s} {column['method']} {column['score']:.6f} exact {exact:.6f}  evidently {peer.get(name)}")
    print(f"worst column per statistic, against the exact value on all {args.rows:,} rows per side:")
    ok = True
    for statistic, rows in errors.items():
        error, exact, name = max(rows, key=lambda r: r[0] / max(0.01 * abs(r[1]), 0.002))
        ok = ok and all(within(e, x) for e, x, _ in rows)
        tolerance = max(0.01 * exact, 0.002)
        print(f"  {statistic:6s} {name}: error {error:.2e} on exact {exact:.5f} (tolerance {tolerance:.4f})")
    print(f"  largest reported error bounds: W/std {max(b[0] for b in bounds):.4f}, KS {max(b[1] for b in bounds):.4f}")
    print("every statistic within 1 % or 0.002 of exact:", "yes" if ok else "NO")
    if peer_err:
        print(f"Wasserstein/std vs Evidently: max {max(peer_err):.2e}")


def ks_for(name: str) -> drift.DriftSettings:
    """Settings that judge `name` by KS whatever its size (to read KS from the stored sketches)."""
    return drift.DriftSettings(columns={name: drift.ColumnRule(method="ks")})


if __name__ == "__main__":
    main()
