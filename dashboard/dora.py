"""DORA figures from deploy facts (pure: no Django imports).

Definitions, as written on the DORA page:
- deployment frequency: deploys that went out (succeeded, including those later rolled back) per day of the window;
- lead time for changes: median of (finished − commit time) over deploys that carry both;
- change failure rate: deploys whose impact verdict was degraded or that were rolled back, ÷ deploys that went out;
- time to restore: median, over failed changes, from the first alert (else the degraded verdict, else the deploy
  itself) to the next deploy of the same service and environment that went out and is not itself a failed change.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class DeployFact:
    service: str
    environment: str
    deployed_at: datetime
    went_out: bool  # succeeded or rolled back: it reached users
    rolled_back: bool
    verdict: str | None
    commit_at: datetime | None
    finished_at: datetime | None
    first_signal_at: datetime | None  # first alert, else when the verdict said degraded

    @property
    def failed_change(self) -> bool:
        return self.went_out and (self.rolled_back or self.verdict == "degraded")


def _median_hours(values: list[float]) -> float | None:
    return round(statistics.median(values) / 3600, 2) if values else None


def _went_out(facts: list[DeployFact]) -> list[DeployFact]:
    return [f for f in sorted(facts, key=lambda f: f.deployed_at) if f.went_out]


def _lead_seconds(out: list[DeployFact]) -> list[float]:
    return [
        (f.finished_at - f.commit_at).total_seconds()
        for f in out
        if f.finished_at and f.commit_at and f.finished_at >= f.commit_at
    ]


def _restore_seconds(out: list[DeployFact]) -> list[float]:
    """For each failed change of one stream: first signal → next deploy that went out and is not a failure."""
    restores = []
    for failure in (f for f in out if f.failed_change):
        fix = next((f for f in out if f.deployed_at > failure.deployed_at and not f.failed_change), None)
        if fix is not None:
            start = failure.first_signal_at or failure.deployed_at
            restores.append(max(0.0, (fix.deployed_at - start).total_seconds()))
    return restores


def _figures(out: list[DeployFact], lead: list[float], restore: list[float], days: float) -> dict:
    failures = sum(1 for f in out if f.failed_change)
    return {
        "deploys": len(out),
        "deploys_per_day": round(len(out) / days, 2) if days else None,
        "lead_time_hours": _median_hours(lead),
        "lead_time_n": len(lead),
        "change_failures": failures,
        "change_failure_rate": round(failures / len(out), 3) if out else None,
        "time_to_restore_hours": _median_hours(restore),
        "restores_n": len(restore),
    }


def dora_figures(facts: list[DeployFact], days: float) -> list[dict]:
    """One row per (service, environment), plus an "all" row whose medians pool every stream's samples."""
    streams: dict[tuple[str, str], list[DeployFact]] = defaultdict(list)
    for fact in facts:
        streams[(fact.service, fact.environment)].append(fact)
    rows, pooled_out, pooled_restore = [], [], []
    for (service, environment), group in sorted(streams.items()):
        out = _went_out(group)
        restore = _restore_seconds(out)
        rows.append(
            {"service": service, "environment": environment, **_figures(out, _lead_seconds(out), restore, days)}
        )
        pooled_out += out
        pooled_restore += restore
    if len(rows) > 1:
        rows.append(
            {
                "service": "all",
                "environment": "all",
                **_figures(pooled_out, _lead_seconds(pooled_out), pooled_restore, days),
            }
        )
    return rows
