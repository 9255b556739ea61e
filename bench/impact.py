"""Time the impact judge: 20 metrics over 1M points (half baseline, half current). Target < 1 s.

Usage: python bench/impact.py [--points 1000000] [--metrics 20] [--runs 5]
Pure computation (no Django, no database): it times `metrics.stats.impact.judge` on in-memory windows.
Prints the median of --runs runs (the machine is shared; single runs are noisy).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from metrics.stats import impact


def make_windows(points: int, metrics: int, seed: int = 0) -> tuple[list[impact.MetricRule], dict]:
    """Latency-, error- and quality-like series; a few metrics degrade so every code path runs."""
    rng = np.random.default_rng(seed)
    per_side = points // metrics // 2
    rules, windows = [], {}
    for i in range(metrics):
        kind = i % 4
        if kind == 0:
            name, base = f"latency_ms_{i}", rng.gamma(3.0, 40.0, 2 * per_side)
        elif kind == 1:
            name, base = f"errors_{i}", rng.poisson(0.4, 2 * per_side).astype(float)
        elif kind == 2:
            name, base = f"accuracy_{i}", rng.beta(40, 8, 2 * per_side)
        else:
            name, base = f"conversion_{i}", np.round(rng.normal(0.12, 0.02, 2 * per_side), 3)
        baseline, current = base[:per_side], base[per_side:]
        if i % 5 == 0:
            current = current * 1.15  # a real regression on some metrics
        rules.append(impact.MetricRule(name, impact.default_direction(name)))
        windows[name] = (baseline, current)
    return rules, windows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    rules, windows = make_windows(args.points, args.metrics)
    impact.judge(rules, windows)  # warm-up: imports, SciPy's first-call setup
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        verdict = impact.judge(rules, windows)
        times.append(time.perf_counter() - start)
    per_side = args.points // args.metrics // 2
    print(f"impact judge: {args.metrics} metrics, {args.points:,} points ({per_side:,} per window side)")
    median = statistics.median(times)
    print(f"  median {median:.3f} s  (min {min(times):.3f} s, max {max(times):.3f} s, {args.runs} runs)")
    print(f"  per metric {median / args.metrics * 1000:.1f} ms; HL method {verdict.metrics[0].hl_method}")
    print(f"  verdict {verdict.verdict}, score {verdict.score}")


if __name__ == "__main__":
    main()
