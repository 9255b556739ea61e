"""Alert rules (alerts/rules.py) on hand-built impact and drift facts."""

from __future__ import annotations

from alerts.engine import Signal
from alerts.rules import (
    COLUMN_DRIFT,
    CRITICAL_METRIC,
    DEFAULT_RULES,
    DRIFT_SHARE,
    IMPACT_DEGRADED,
    PREDICTION_DRIFT,
    RULE_KINDS,
    ColumnFact,
    DeployFacts,
    MetricFact,
    RuleSpec,
    evaluate,
)

SHARE = RuleSpec(key="drift-share", kind=DRIFT_SHARE, threshold=0.5)


def col(name: str, verdict: str, severity: float = 0.0, role: str = "feature", **kw) -> ColumnFact:
    return ColumnFact(name=name, role=role, verdict=verdict, severity=severity, **kw)


def drift(*columns: ColumnFact, expected: tuple[str, ...] = ()) -> DeployFacts:
    return DeployFacts(columns=columns, has_drift_report=True, expected_drift=frozenset(expected))


def test_it_fires_when_half_of_the_judged_columns_drift() -> None:
    prediction = col("score", "drifted", 2, "prediction")
    facts = drift(col("a", "drifted", 3), col("b", "stable", 0.2), col("c", "stable", 0.1), prediction)
    result = evaluate(SHARE, facts, is_open=False)
    assert result.signal is Signal.BREACH
    assert result.numbers == {"drift_share": 0.5, "threshold": 0.5, "drifted": ["a", "score"], "judged": 4}
    assert result.title == "Dataset drift: 2 of 4 columns drifted (alerts from 50% of the columns)"


def test_it_counts_expected_drift_as_judged_but_never_as_drifted_and_skips_insufficient_columns() -> None:
    # As the drift report counts: income drifted but the deploy said it would; zip has too little data.
    facts = drift(
        col("income", "drifted", 5),
        col("zip", "insufficient_data"),
        col("a", "drifted", 2),
        col("b", "stable"),
        col("c", "stable"),
        expected=("income",),
    )
    result = evaluate(SHARE, facts, is_open=False)
    assert result.signal is Signal.CLEAR
    assert (result.numbers["judged"], result.numbers["drifted"]) == (4, ["a"])
    assert result.numbers["drift_share"] == 0.25


def test_it_holds_an_open_drift_share_alert_inside_the_hysteresis_band() -> None:
    facts = drift(*(col(f"d{i}", "drifted", 2) for i in range(9)), *(col(f"s{i}", "stable") for i in range(11)))
    assert evaluate(SHARE, facts, is_open=True).signal is Signal.HOLD  # 45 % ≥ 40 %
    assert evaluate(SHARE, facts, is_open=False).signal is Signal.CLEAR


def test_it_knows_nothing_without_a_drift_report() -> None:
    for kind in (DRIFT_SHARE, COLUMN_DRIFT, PREDICTION_DRIFT):
        assert evaluate(RuleSpec(key="r", kind=kind), DeployFacts(), is_open=True).signal is Signal.UNKNOWN


def test_it_pages_for_a_named_column_with_its_numbers() -> None:
    rule = RuleSpec(key="income", kind=COLUMN_DRIFT, column="income")
    facts = drift(
        col("income", "drifted", 2.1, method="ks", score=0.0018, threshold=0.05, psi=0.31), col("age", "drifted", 4)
    )
    result = evaluate(rule, facts, is_open=False)
    assert result.signal is Signal.BREACH
    assert result.title == "Feature drift: income (ks p 0.0018 < 0.05, PSI 0.31)"
    assert list(result.numbers["columns"]) == ["income"]


def test_a_column_drifted_by_its_missing_values_says_so_instead_of_a_score_under_its_threshold() -> None:
    rule = RuleSpec(key="amount", kind=COLUMN_DRIFT, column="amount")
    missing = dict(null_drifted=True, null_rate_ref=0.011, null_rate_cur=0.154)
    alone = col(
        "amount", "drifted", 0.4, method="wasserstein", score=0.04, threshold=0.1, value_drifted=False, **missing
    )
    assert evaluate(rule, drift(alone), is_open=False).title == "Feature drift: amount (missing 1.1 % → 15.4 %)"
    both = col("amount", "drifted", 2.0, method="wasserstein", score=0.2, threshold=0.1, value_drifted=True, **missing)
    assert evaluate(rule, drift(both), is_open=False).title == (
        "Feature drift: amount (wasserstein distance 0.2 ≥ 0.1, missing 1.1 % → 15.4 %)"
    )


def test_it_never_pages_for_drift_the_deploy_declared() -> None:
    rule = RuleSpec(key="income", kind=COLUMN_DRIFT, column="income")
    declared = drift(col("income", "drifted", 9), expected=("income",))
    marked = drift(col("income", "expected", 9))
    assert evaluate(rule, declared, is_open=False).signal is Signal.CLEAR
    assert evaluate(rule, marked, is_open=True).signal is Signal.CLEAR


def test_it_holds_a_column_alert_while_the_statistic_sits_just_under_its_threshold() -> None:
    rule = RuleSpec(key="income", kind=COLUMN_DRIFT, column="inc*")
    facts = drift(col("income", "stable", 0.85, method="ks", score=0.08, threshold=0.05))
    assert evaluate(rule, facts, is_open=True).signal is Signal.HOLD
    assert evaluate(rule, facts, is_open=False).signal is Signal.CLEAR
    assert evaluate(rule, drift(col("income", "stable", 0.5)), is_open=True).signal is Signal.CLEAR


def test_it_names_the_model_change_as_the_cause_of_prediction_drift_with_stable_inputs() -> None:
    rule = RuleSpec(key="p", kind=PREDICTION_DRIFT)
    prediction = col(
        "score",
        "drifted",
        2.3,
        role="prediction",
        method="wasserstein",
        score=0.23,
        threshold=0.1,
        cause="model_change",
    )
    facts = drift(col("age", "stable"), prediction)
    result = evaluate(rule, facts, is_open=False)
    assert result.signal is Signal.BREACH
    assert result.title == (
        "Prediction drift: score (wasserstein distance 0.23 ≥ 0.1) — inputs are stable, so the model change caused it"
    )
    assert result.numbers["cause"] == "model_change"


def test_it_fires_on_a_degraded_verdict_and_holds_while_marginal() -> None:
    rule = RuleSpec(key="i", kind=IMPACT_DEGRADED)
    failed = MetricFact("latency_p95", "High", failed=True, relative_change=0.231, p_value=0.0004)
    degraded = DeployFacts(impact_verdict="degraded", impact_score=60.0, metrics=(failed,))
    result = evaluate(rule, degraded, is_open=False)
    assert result.signal is Signal.BREACH
    assert result.title == "Impact verdict degraded (score 60): latency_p95 High +23.1%, p=0.0004"
    marginal = DeployFacts(impact_verdict="marginal", impact_score=80.0)
    assert evaluate(rule, marginal, is_open=True).signal is Signal.HOLD
    assert evaluate(rule, marginal, is_open=False).signal is Signal.CLEAR
    for verdict, signal in [
        ("healthy", Signal.CLEAR),
        ("improved", Signal.CLEAR),
        ("insufficient_data", Signal.UNKNOWN),
    ]:
        assert evaluate(rule, DeployFacts(impact_verdict=verdict), is_open=True).signal is signal


def test_it_fires_when_a_critical_metric_fails_and_only_then() -> None:
    rule = RuleSpec(key="c", kind=CRITICAL_METRIC)
    bad = MetricFact("error_rate", "High", critical=True, failed=True, relative_change=0.4)
    minor = MetricFact("cpu", "High", critical=False, failed=True)
    ok = MetricFact("error_rate", "Pass", critical=True)
    nodata = MetricFact("error_rate", "NoData", critical=True)
    assert evaluate(rule, DeployFacts(metrics=(bad, minor)), is_open=False).title == (
        "Critical metric failed: error_rate High +40.0%"
    )
    assert evaluate(rule, DeployFacts(metrics=(minor, ok)), is_open=True).signal is Signal.CLEAR
    assert evaluate(rule, DeployFacts(metrics=(nodata,)), is_open=True).signal is Signal.UNKNOWN


def test_it_scopes_a_rule_to_services_and_environments() -> None:
    rule = RuleSpec(key="r", kind=DRIFT_SHARE, services=("fraud-scorer",), environments=("production",))
    assert rule.applies_to("fraud-scorer", "production")
    assert not rule.applies_to("fraud-scorer", "staging")
    assert not rule.applies_to("ranker", "production")
    assert RuleSpec(key="r", kind=DRIFT_SHARE).applies_to("anything", "anywhere")


def test_it_ships_a_default_rule_of_every_kind() -> None:
    assert sorted(rule.kind for rule, _ in DEFAULT_RULES) == sorted(RULE_KINDS)
