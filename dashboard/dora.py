"""DORA figures from deploy facts (pure: no Django imports).

Definitions, as written on the DORA page:
- deployment frequency: deploys that went out (succeeded, including those later rolled back) per day of the window;
- lead time for changes: median of (finished − commit time) over deploys that carry both;
- change failure rate: deploys whose impact verdict was degraded or that were rolled back, ÷ deploys that went out;
- time to restore: median, over failed changes, from the first alert (else the degraded verdict, else the deploy
  itself) to the next deploy of the same service and environment that went out and is not itself a failed change.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta


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
    # A new model version on the code of its baseline (same commit): a retrain, not a code change.
    model_only: bool = False

    @property
    def failed_change(self) -> bool:
        return self.went_out and (self.rolled_back or self.verdict == "degraded")


def is_model_only(commit_sha: str, model_version: str, baseline_sha: str | None, baseline_model: str | None) -> bool:
    """Same commit as the baseline, another model version: only the model changed."""
    return bool(commit_sha) and commit_sha == baseline_sha and bool(model_version) and model_version != baseline_model


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
    return [seconds for _, seconds in _restores_by_failure(out)]


def _kind_figures(out: list[DeployFact], days: float) -> dict:
    """Frequency and failure rate of model-only deploys (retrains) apart from code deploys."""
    figures = {}
    for kind, group in (("model", [f for f in out if f.model_only]), ("code", [f for f in out if not f.model_only])):
        failures = sum(1 for f in group if f.failed_change)
        figures |= {
            f"{kind}_deploys": len(group),
            f"{kind}_deploys_per_day": round(len(group) / days, 2) if days else None,
            f"{kind}_change_failures": failures,
            f"{kind}_change_failure_rate": round(failures / len(group), 3) if group else None,
        }
    return figures


def _figures(out: list[DeployFact], lead: list[float], restore: list[float], days: float) -> dict:
    failures = sum(1 for f in out if f.failed_change)
    return {
        **_kind_figures(out, days),
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


WEEK = timedelta(days=7)


def weekly_trend(facts: list[DeployFact], since: datetime, until: datetime) -> list[dict]:
    """The four figures per week of the window (weeks counted back from `until`, the oldest maybe partial),
    streams pooled as in the total row; a failure's restore counts in the week of the failure."""
    weeks = max(1, math.ceil((until - since) / WEEK))
    buckets: list[list[DeployFact]] = [[] for _ in range(weeks)]
    restores: list[list[float]] = [[] for _ in range(weeks)]
    streams: dict[tuple[str, str], list[DeployFact]] = defaultdict(list)
    for fact in facts:
        streams[(fact.service, fact.environment)].append(fact)
    for group in streams.values():
        out = _went_out(group)
        for f in out:
            buckets[_week_of(f.deployed_at, until, weeks)].append(f)
        for failure, seconds in _restores_by_failure(out):
            restores[_week_of(failure.deployed_at, until, weeks)].append(seconds)
    rows = []
    for index, (out, restore) in enumerate(zip(buckets, restores, strict=True)):
        start = max(since, until - (weeks - index) * WEEK)
        end = until - (weeks - index - 1) * WEEK
        days = (end - start).total_seconds() / 86400
        rows.append({"week_start": start, "week_end": end, **_figures(out, _lead_seconds(out), restore, days)})
    return rows


def _week_of(at: datetime, until: datetime, weeks: int) -> int:
    back = int((until - at) / WEEK)
    return min(weeks - 1, max(0, weeks - 1 - back))


def _restores_by_failure(out: list[DeployFact]) -> list[tuple[DeployFact, float]]:
    pairs = []
    for failure in (f for f in out if f.failed_change):
        fix = next((f for f in out if f.deployed_at > failure.deployed_at and not f.failed_change), None)
        if fix is not None:
            start = failure.first_signal_at or failure.deployed_at
            pairs.append((failure, max(0.0, (fix.deployed_at - start).total_seconds())))
    return pairs


@dataclass(frozen=True)
class Band:
    name: str  # elite, high, medium, low
    limit: str  # as the page states it


# DORA's performance clusters, from the Accelerate State of DevOps Report 2021 (DORA, Google Cloud). The report
# leaves gaps between some ranges (e.g. lead time: high "one day to one week", medium "one to six months");
# here each band runs up to the next one's start, and change failure rate, which the report gives as 16-30 %
# for high, medium and low alike, has no medium band.
BANDS: dict[str, list[tuple[str, str, float]]] = {
    # figure: [(band, stated limit, upper bound in the figure's unit)], best first
    "deploys_per_day": [
        ("elite", "on demand: at least once a day", 1.0),
        ("high", "between once a day and once a week", 1 / 7),
        ("medium", "between once a week and once a month", 1 / 30),
        ("low", "less than once a month", 0.0),
    ],
    "lead_time_hours": [
        ("elite", "less than one hour", 1.0),
        ("high", "one hour to one week", 168.0),
        ("medium", "one week to six months", 4380.0),
        ("low", "more than six months", math.inf),
    ],
    "change_failure_rate": [
        ("elite", "0-15 %", 0.15),
        ("high", "16-30 % (high, medium and low in the report)", 0.30),
        ("low", "more than 30 %", math.inf),
    ],
    "time_to_restore_hours": [
        ("elite", "less than one hour", 1.0),
        ("high", "less than one day", 24.0),
        ("medium", "one day to one week", 168.0),
        ("low", "more than one week", math.inf),
    ],
}
BANDS_SOURCE = "Accelerate State of DevOps Report 2021 (DORA, Google Cloud)"


def band(figure: str, value: float | None) -> Band | None:
    """The performance band a figure falls in; deployment frequency is better higher, the others lower."""
    if value is None:
        return None
    for name, limit, bound in BANDS[figure]:
        if figure == "deploys_per_day":
            inside = value >= bound
        elif figure == "change_failure_rate":
            inside = value <= bound  # the report's percentages are inclusive ranges
        else:
            inside = value < bound
        if inside:
            return Band(name, limit)
    return None
