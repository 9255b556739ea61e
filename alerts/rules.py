"""Alert rules judged against a deploy's impact and drift results (pure: no Django).

The Django side maps the stored impact and drift reports onto `DeployFacts`; each rule then says
`breach`, `hold`, `clear` or `unknown` (see `alerts.engine.Signal`) with a title and the numbers
that made it fire, so an alert always explains itself.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerts.engine import DEFAULT_HYSTERESIS, Hysteresis, Signal, signal_for

DRIFT_SHARE = "drift_share"
COLUMN_DRIFT = "column_drift"
PREDICTION_DRIFT = "prediction_drift"
IMPACT_DEGRADED = "impact_degraded"
CRITICAL_METRIC = "critical_metric"
UNFAIR = "unfair"
RULE_KINDS = (DRIFT_SHARE, COLUMN_DRIFT, PREDICTION_DRIFT, IMPACT_DEGRADED, CRITICAL_METRIC, UNFAIR)
IMPACT_KINDS = (IMPACT_DEGRADED, CRITICAL_METRIC)
SEVERITIES = ("critical", "error", "warning", "info")  # PagerDuty's four


@dataclass(frozen=True)
class RuleSpec:
    key: str
    kind: str
    severity: str = "warning"
    threshold: float | None = None  # drift_share: the share of judged columns, as in the drift report (0-1)
    column: str = ""  # column_drift: a column name or a glob such as "income*"
    services: tuple[str, ...] = ()  # empty: every service
    environments: tuple[str, ...] = ()

    def applies_to(self, service: str, environment: str) -> bool:
        return (not self.services or service in self.services) and (
            not self.environments or environment in self.environments
        )


# Created for every new project. A column rule needs a column, so its default is disabled.
DEFAULT_RULES: tuple[tuple[RuleSpec, bool], ...] = (
    (RuleSpec(key="drift-share", kind=DRIFT_SHARE, severity="error", threshold=0.5), True),
    (RuleSpec(key="prediction-drift", kind=PREDICTION_DRIFT, severity="error"), True),
    (RuleSpec(key="impact-degraded", kind=IMPACT_DEGRADED, severity="critical"), True),
    (RuleSpec(key="critical-metric", kind=CRITICAL_METRIC, severity="critical"), True),
    (RuleSpec(key="unfair", kind=UNFAIR, severity="error"), True),
    (RuleSpec(key="column-drift", kind=COLUMN_DRIFT, severity="warning", column="*"), False),
)


@dataclass(frozen=True)
class ColumnFact:
    name: str
    role: str  # feature, prediction or label
    verdict: str  # drifted, expected, stable or insufficient_data
    severity: float = 0.0  # score relative to its threshold: >= 1 is drift
    method: str | None = None
    score: float | None = None
    threshold: float | None = None
    psi: float | None = None
    cause: str | None = None
    value_drifted: bool | None = None  # the values moved (None: not stored, older reports)
    null_drifted: bool = False  # the share of missing values moved
    null_rate_ref: float | None = None
    null_rate_cur: float | None = None


@dataclass(frozen=True)
class MetricFact:
    name: str
    classification: str  # Pass, High, Low or NoData
    critical: bool = False
    failed: bool = False
    relative_change: float | None = None
    p_value: float | None = None
    reason: str = ""


@dataclass(frozen=True)
class FairnessFact:
    """One sensitive column's fairness as the drift report judged it."""

    column: str
    verdict: str  # fair, unfair or insufficient_data
    disparate_impact: float | None = None
    baseline_disparate_impact: float | None = None
    equal_opportunity_diff: float | None = None
    crossed: bool = False  # the baseline passed the four-fifths rule


@dataclass(frozen=True)
class DeployFacts:
    columns: tuple[ColumnFact, ...] = ()
    has_drift_report: bool = False
    impact_verdict: str | None = None
    impact_score: float | None = None
    metrics: tuple[MetricFact, ...] = ()
    fairness: tuple[FairnessFact, ...] = ()
    expected_drift: frozenset[str] = frozenset()
    final: bool = False  # the observation window is over: no later report will come
    reported_at: datetime | None = None  # computed_at of the newest report behind these facts
    drift_reported_at: datetime | None = None
    impact_reported_at: datetime | None = None

    def report_time(self, kind: str) -> datetime | None:
        """When the report a rule of this kind reads was computed: a drift rule must not count a new
        impact report as another clean drift reading, nor the other way round."""
        specific = self.impact_reported_at if kind in IMPACT_KINDS else self.drift_reported_at
        return specific or self.reported_at


@dataclass(frozen=True)
class Evaluation:
    signal: Signal
    title: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)


def evaluate(
    rule: RuleSpec, facts: DeployFacts, *, is_open: bool, hysteresis: Hysteresis = DEFAULT_HYSTERESIS
) -> Evaluation:
    judge = _JUDGES[rule.kind]
    return judge(rule, facts, is_open, hysteresis)


def _is_expected(column: ColumnFact, facts: DeployFacts) -> bool:
    return column.verdict == "expected" or column.name in facts.expected_drift


def _drift_share(rule: RuleSpec, facts: DeployFacts, is_open: bool, hysteresis: Hysteresis) -> Evaluation:
    """The drift report's own drift share: drifted columns (inputs, prediction and label alike) of every judged
    column, so the alert quotes the figure the deploy page shows. Expected drift counts as judged, never as
    drifted: it does not page."""
    judged = [c for c in facts.columns if c.verdict in ("drifted", "expected", "stable")]
    if not facts.has_drift_report or not judged:
        return Evaluation(Signal.UNKNOWN)
    drifted = sorted(c.name for c in judged if c.verdict == "drifted" and not _is_expected(c, facts))
    share = len(drifted) / len(judged)
    threshold = rule.threshold if rule.threshold is not None else 0.5
    title = (
        f"Dataset drift: {len(drifted)} of {len(judged)} columns drifted (alerts from {threshold:.0%} of the columns)"
    )
    numbers = {"drift_share": round(share, 4), "threshold": threshold, "drifted": drifted, "judged": len(judged)}
    return Evaluation(signal_for(share, threshold, is_open=is_open, hysteresis=hysteresis), title, numbers)


def _columns_signal(columns: Sequence[ColumnFact], is_open: bool, hysteresis: Hysteresis) -> Signal:
    judged = [c for c in columns if c.verdict in ("drifted", "stable")]
    if not judged:
        return Signal.UNKNOWN
    if any(c.verdict == "drifted" for c in judged):
        return Signal.BREACH
    # Not drifted, but an open alert stays open while the statistic sits just under its threshold.
    return signal_for(max(c.severity for c in judged), 1.0, is_open=is_open, hysteresis=hysteresis)


def _describe_column(c: ColumnFact) -> str:
    """The column's figures as the deploy page writes them: score to 4 and PSI to 3 significant figures, and a
    column drifted by its missing values says so rather than quoting a score under its threshold."""
    missing = f"missing {_share(c.null_rate_ref)} → {_share(c.null_rate_cur)}" if c.null_drifted else ""
    moved = c.value_drifted if c.value_drifted is not None else c.verdict == "drifted" and not c.null_drifted
    if c.method is None or c.score is None or (missing and not moved):
        return f"{c.name} ({missing or c.verdict})"
    is_p_value = c.method in ("ks", "chisquare", "chisquare_gof", "z")
    relation = ("<" if moved else "≥") if is_p_value else ("≥" if moved else "<")
    label = "p" if is_p_value else "distance"
    psi = f", PSI {c.psi:.3g}" if c.psi is not None else ""
    also = f", {missing}" if missing else ""
    return f"{c.name} ({c.method} {label} {c.score:.4g} {relation} {c.threshold:.4g}{psi}{also})"


def _share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _column_numbers(columns: Sequence[ColumnFact]) -> dict[str, Any]:
    return {
        c.name: {"verdict": c.verdict, "method": c.method, "score": c.score, "threshold": c.threshold, "psi": c.psi}
        for c in columns
    }


def _column_drift(rule: RuleSpec, facts: DeployFacts, is_open: bool, hysteresis: Hysteresis) -> Evaluation:
    """A named column (or columns matching a glob) drifted; expected drift never pages."""
    pattern = rule.column or "*"
    matched = [c for c in facts.columns if c.role == "feature" and fnmatch.fnmatchcase(c.name, pattern)]
    if not facts.has_drift_report or not matched:
        return Evaluation(Signal.UNKNOWN)
    paged = [c for c in matched if not _is_expected(c, facts)]
    if not paged:
        return Evaluation(Signal.CLEAR, numbers={"expected": sorted(c.name for c in matched)})
    signal = _columns_signal(paged, is_open, hysteresis)
    drifted = [c for c in paged if c.verdict == "drifted"]
    shown = drifted or paged
    title = "Feature drift: " + "; ".join(_describe_column(c) for c in shown[:5])
    if len(shown) > 5:
        title += f" and {len(shown) - 5} more"
    return Evaluation(signal, title, {"columns": _column_numbers(shown)})


def _prediction_drift(rule: RuleSpec, facts: DeployFacts, is_open: bool, hysteresis: Hysteresis) -> Evaluation:
    predictions = [c for c in facts.columns if c.role == "prediction" and not _is_expected(c, facts)]
    if not facts.has_drift_report or not predictions:
        return Evaluation(Signal.UNKNOWN)
    signal = _columns_signal(predictions, is_open, hysteresis)
    title = "Prediction drift: " + "; ".join(_describe_column(c) for c in predictions)
    if any(c.cause == "model_change" for c in predictions):
        title += " — inputs are stable, so the model change caused it"
    numbers = _column_numbers(predictions)
    return Evaluation(signal, title, {"columns": numbers, "cause": _cause(predictions)})


def _cause(columns: Sequence[ColumnFact]) -> str | None:
    return next((c.cause for c in columns if c.cause), None)


def _describe_metric(m: MetricFact) -> str:
    change = f" {m.relative_change:+.1%}" if m.relative_change is not None else ""
    p_value = f", p={m.p_value:.3g}" if m.p_value is not None else ""
    return f"{m.name} {m.classification}{change}{p_value}"


def _impact_degraded(rule: RuleSpec, facts: DeployFacts, is_open: bool, hysteresis: Hysteresis) -> Evaluation:
    """Degraded fires; marginal holds an open alert (the hysteresis band); healthy or improved clears."""
    verdict = facts.impact_verdict
    signal = {
        "degraded": Signal.BREACH,
        "marginal": Signal.HOLD if is_open else Signal.CLEAR,
        "healthy": Signal.CLEAR,
        "improved": Signal.CLEAR,
    }.get(verdict or "", Signal.UNKNOWN)
    failed = [m for m in facts.metrics if m.failed]
    score = f"score {facts.impact_score:.0f}" if facts.impact_score is not None else "no score"
    title = f"Impact verdict {verdict} ({score})"
    if failed:
        title += ": " + "; ".join(_describe_metric(m) for m in failed[:5])
    numbers = {"verdict": verdict, "score": facts.impact_score, "failed": [m.name for m in failed]}
    return Evaluation(signal, title, numbers)


def _critical_metric(rule: RuleSpec, facts: DeployFacts, is_open: bool, hysteresis: Hysteresis) -> Evaluation:
    critical = [m for m in facts.metrics if m.critical]
    failed = [m for m in critical if m.failed]
    judged = [m for m in critical if m.classification != "NoData"]
    if failed:
        title = "Critical metric failed: " + "; ".join(_describe_metric(m) for m in failed)
        return Evaluation(Signal.BREACH, title, {"failed": {m.name: _metric_numbers(m) for m in failed}})
    return Evaluation(Signal.CLEAR if judged else Signal.UNKNOWN)


def _metric_numbers(m: MetricFact) -> dict[str, Any]:
    return {"classification": m.classification, "relative_change": m.relative_change, "p_value": m.p_value}


def _unfair(rule: RuleSpec, facts: DeployFacts, is_open: bool, hysteresis: Hysteresis) -> Evaluation:
    """A sensitive column fails the four-fifths rule (disparate impact under the drift report's threshold)."""
    judged = [f for f in facts.fairness if f.verdict in ("fair", "unfair")]
    if not facts.has_drift_report or not judged:
        return Evaluation(Signal.UNKNOWN)
    unfair = [f for f in judged if f.verdict == "unfair"]
    if not unfair:
        return Evaluation(Signal.CLEAR)
    title = "Unfair: " + "; ".join(_describe_fairness(f) for f in unfair[:5])
    numbers = {
        f.column: {
            "disparate_impact": f.disparate_impact,
            "baseline_disparate_impact": f.baseline_disparate_impact,
            "equal_opportunity_diff": f.equal_opportunity_diff,
            "crossed": f.crossed,
        }
        for f in unfair
    }
    return Evaluation(Signal.BREACH, title, {"columns": numbers})


def _describe_fairness(f: FairnessFact) -> str:
    text = f"{f.column} disparate impact {f.disparate_impact:.2f}"
    if f.baseline_disparate_impact is not None:
        text += f" (baseline {f.baseline_disparate_impact:.2f})"
    return text


_JUDGES = {
    DRIFT_SHARE: _drift_share,
    COLUMN_DRIFT: _column_drift,
    PREDICTION_DRIFT: _prediction_drift,
    IMPACT_DEGRADED: _impact_degraded,
    CRITICAL_METRIC: _critical_metric,
    UNFAIR: _unfair,
}
