"""Accuracy of the bounded drift paths: the report `bench/drift.py` left in its database against exact
statistics on all rows (regenerated with the same generator), and against Evidently's scores if given.

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/dt_drift_bench")
    parser.add_argument("--evidently", help="results/evidently_<N>.json of the peer run")
    args = parser.parse_args()
    specs = bench.column_specs(bench.SEED)
    ref, cur = (bench.make_frame(bench.SEED, args.rows, which, specs) for which in ("reference", "current"))
    report = {c["column"]: c for c in stored_report(args.database_url)["columns"]}
    peer = {}
    if args.evidently:
        peer = {c["column"]: c["drift_score"] for c in json.loads(Path(args.evidently).read_text())["columns"]}
    w_err, psi_err, js_err, peer_err = [], [], [], []
    for name, column in sorted(report.items()):
        if column["method"] == "wasserstein":
            exact, exact_psi = (
                drift.wasserstein_norm(ref[name], cur[name]),
                drift.psi_on_deciles(ref[name], cur[name])[0],
            )
            w_err.append(abs(column["score"] - exact))
            if name in peer:
                peer_err.append(abs(column["score"] - peer[name]))
            psi_err.append(abs(column["psi"] - exact_psi))
            print(
                f"{name:11s} W/std {column['score']:.4f} exact {exact:.4f} evidently {peer.get(name, float('nan')):.4f}"
                f"  PSI {column['psi']:.4f} exact {exact_psi:.4f}  {column['verdict']}"
            )
        else:
            if name in peer:
                js_err.append(abs(column["score"] - peer[name]))
            print(
                f"{name:11s} {column['method']} {column['score']:.6f} evidently {peer.get(name)}  {column['verdict']}"
            )
    print(f"Wasserstein/std, reservoirs vs exact: max {max(w_err):.4f}, mean {np.mean(w_err):.4f}")
    print(f"PSI, regrouped frozen bins vs exact deciles: max {max(psi_err):.4f}, mean {np.mean(psi_err):.4f}")
    if js_err:
        print(f"Jensen-Shannon vs Evidently: max {max(js_err):.2e}")
    if peer_err:
        print(f"Wasserstein/std vs Evidently: max {max(peer_err):.2e}")


if __name__ == "__main__":
    main()
