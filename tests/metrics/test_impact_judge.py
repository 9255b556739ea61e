"""The impact judge against independent references: SciPy, brute force, hand-worked cases, theory."""

import json

import numpy as np
import pytest
from scipy import stats

from metrics.stats import impact
from metrics.stats.impact import MetricRule, hodges_lehmann, judge, judge_metric, mann_whitney


def _sorted(values):
    return np.sort(np.asarray(values, dtype=float))


def _rng(seed=0):
    return np.random.default_rng(seed)


# --- Mann-Whitney U against SciPy ---------------------------------------------------------------


SCIPY_CASES = [
    ("continuous, equal sizes", lambda r: (r.normal(100, 10, 200), r.normal(103, 10, 200))),
    ("continuous, unequal sizes", lambda r: (r.lognormal(3, 0.5, 57), r.lognormal(3.1, 0.5, 311))),
    ("heavy ties (integer counts)", lambda r: (r.poisson(0.3, 400), r.poisson(0.5, 350))),
    ("rounded latencies", lambda r: (np.round(r.gamma(2, 50, 1000)), np.round(r.gamma(2, 55, 900)))),
    ("no difference at all", lambda r: (r.normal(0, 1, 64), r.normal(0, 1, 64))),
    ("tiny tie-free samples (exact test)", lambda r: (r.normal(0, 1, 6), r.normal(1, 1, 7))),
    ("tiny with ties (asymptotic)", lambda r: (np.array([1.0, 2, 2, 3, 5]), np.array([2.0, 3, 3, 4, 6, 7]))),
    ("large windows", lambda r: (r.normal(50, 5, 25_000), r.normal(50.05, 5, 24_000))),
]


@pytest.mark.parametrize("label,make", SCIPY_CASES, ids=[c[0] for c in SCIPY_CASES])
def test_its_u_and_p_value_equal_scipys_mannwhitneyu(label, make):
    current, baseline = make(_rng(hash(label) % 2**32))
    reference = stats.mannwhitneyu(current, baseline, alternative="two-sided")

    result = mann_whitney(_sorted(current), _sorted(baseline))

    assert result.u == pytest.approx(reference.statistic, rel=1e-12, abs=1e-9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-300)


def test_it_gives_p_of_one_when_every_value_is_identical():
    reference = stats.mannwhitneyu(np.full(40, 3.0), np.full(50, 3.0))
    result = mann_whitney(np.full(40, 3.0), np.full(50, 3.0))
    assert (result.u, result.p_value) == (reference.statistic, reference.pvalue) == (1000.0, 1.0)


def test_it_computes_a_hand_worked_exact_u_and_p():
    # Every current value is below every baseline value: U = 0. Of the C(6,3) = 20 equally likely
    # orderings exactly one gives U = 0 and one gives U = 9, so the two-sided p is 2/20.
    result = mann_whitney(_sorted([1, 2, 3]), _sorted([4, 5, 6]))
    assert result.u == 0.0
    assert result.p_value == pytest.approx(0.1)


# --- Hodges-Lehmann ---------------------------------------------------------------------------------


def test_it_computes_a_hand_worked_hodges_lehmann_shift():
    # Differences current - baseline: 3-1, 3-2, 5-1, 5-2, 7-1, 7-2 = 2, 1, 4, 3, 6, 5 -> median 3.5.
    assert hodges_lehmann(_sorted([3, 5, 7]), _sorted([1, 2])).estimate == 3.5


@pytest.mark.parametrize("n,m", [(30, 30), (101, 57), (400, 700)])
def test_its_exact_shift_is_the_median_of_all_pairwise_differences(n, m):
    r = _rng(n)
    current, baseline = _sorted(r.gamma(2, 10, n) + 3), _sorted(r.gamma(2, 10, m))
    brute = np.median(np.subtract.outer(current, baseline))
    result = hodges_lehmann(current, baseline)
    assert result.method == "exact"
    assert result.estimate == pytest.approx(brute, rel=1e-12)
    assert result.ci_low <= result.estimate <= result.ci_high


SELECTION_CASES = {
    "continuous": lambda r: (r.normal(10, 3, 900), r.normal(11, 3, 800)),
    "heavy ties (counts)": lambda r: (r.poisson(0.4, 900).astype(float), r.poisson(0.6, 700).astype(float)),
    "rounded": lambda r: (np.round(r.gamma(2, 5, 600), 1), np.round(r.gamma(2, 5, 650), 1)),
    "all equal": lambda r: (np.full(300, 2.0), np.full(400, 2.0)),
}


@pytest.mark.parametrize("label", list(SELECTION_CASES))
def test_its_pair_selection_equals_sorting_all_pairwise_differences(label):
    r = _rng(len(label))
    current, baseline = (_sorted(x) for x in SELECTION_CASES[label](r))
    brute = np.sort(np.subtract.outer(current, baseline).ravel())
    ranks = [1, len(brute), len(brute) // 2, *r.integers(1, len(brute) + 1, 30).tolist()]
    # Equal up to float rounding: 2.6 - 0.3 and 2.9 - 0.6 differ in the last bit and sort either way.
    expected = [pytest.approx(brute[k - 1], rel=1e-12, abs=1e-12) for k in ranks]
    assert [impact._kth_difference(current, baseline, k) for k in ranks] == expected


def test_its_interval_excludes_zero_exactly_when_scipys_test_rejects_at_98_percent():
    # For tie-free data the order-statistic interval and the continuity-corrected test are the same
    # decision; SciPy decides independently here.
    r = _rng(7)
    agreements = []
    for shift in np.linspace(0.3, 0.6, 400):  # around the 2 % boundary, where an off-by-one shows
        current, baseline = r.normal(shift, 1, 60), r.normal(0, 1, 60)
        hl = hodges_lehmann(_sorted(current), _sorted(baseline), 0.98)
        rejects = stats.mannwhitneyu(current, baseline).pvalue < 0.02
        agreements.append(rejects == (hl.ci_low > 0 or hl.ci_high < 0))
    assert all(agreements)


def test_its_98_percent_interval_covers_the_true_shift_about_98_percent_of_the_time():
    r = _rng(11)
    trials, true_shift = 400, 2.5
    covered = 0
    for _ in range(trials):
        current = _sorted(r.standard_t(5, 40) + true_shift)
        baseline = _sorted(r.standard_t(5, 45))
        hl = hodges_lehmann(current, baseline, 0.98)
        covered += hl.ci_low <= true_shift <= hl.ci_high
    # Binomial(400, 0.98): mean 392, sd 2.8; the interval is conservative for discrete ranks.
    assert 382 <= covered <= 400


def test_its_compressed_shift_on_big_windows_stays_within_the_documented_rank_bound():
    r = _rng(3)
    current, baseline = _sorted(r.lognormal(4, 0.4, 3000) * 1.02), _sorted(r.lognormal(4, 0.4, 2500))
    result = hodges_lehmann(current, baseline, 0.98)
    assert result.method.startswith("compressed")

    diffs = np.sort(np.subtract.outer(current, baseline).ravel())
    size, slack = len(diffs), 2.0 / 1000  # the documented bound for K = 1000

    def between(value, p):
        lo = diffs[max(int(np.floor((p - slack) * size)) - 1, 0)]
        hi = diffs[min(int(np.ceil((p + slack) * size)), size - 1)]
        return lo <= value <= hi

    sigma = np.sqrt(3000 * 2500 * (3000 + 2500 + 1) / 12)
    p_low = (size / 2 + 0.5 - stats.norm.ppf(0.99) * sigma) / size
    assert between(result.estimate, 0.5)
    assert between(result.ci_low, p_low)
    assert between(result.ci_high, 1 - p_low)


# --- one metric ---------------------------------------------------------------------------------------


def test_it_passes_a_significant_change_that_is_smaller_than_the_allowed_change():
    r = _rng(5)
    baseline, current = r.normal(100, 5, 5000), r.normal(102, 5, 5000)  # +2 %, very significant
    result = judge_metric(MetricRule("latency_ms", impact.INCREASE_IS_BAD, allowed_change=0.10), baseline, current)
    assert result.significant and result.p_value < 1e-10
    assert result.classification == impact.PASS and not result.failed
    assert "within the allowed change 10%" in result.reason


def test_it_judges_the_direction_of_mostly_zero_error_counts_from_u_not_the_median_shift():
    r = _rng(9)
    baseline, current = r.poisson(0.2, 2000), r.poisson(0.6, 2000)
    result = judge_metric(MetricRule("errors", impact.INCREASE_IS_BAD), baseline, current)
    assert result.hl_estimate == 0.0  # most pairs are 0 - 0
    assert result.classification == impact.HIGH


def test_it_reports_every_input_as_json():
    r = _rng(2)
    result = judge_metric(
        MetricRule("latency_ms", impact.INCREASE_IS_BAD), r.normal(100, 5, 300), r.normal(130, 5, 300)
    )
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    for key in (
        "n_baseline", "n_current", "median_baseline", "median_current", "mean_baseline", "mean_current",
        "u_statistic", "p_value", "hl_estimate", "hl_ci_low", "hl_ci_high", "mean_ratio", "allowed_change",
        "confidence", "min_samples", "classification", "reason",
    ):  # fmt: skip
        assert data[key] is not None, key
    assert data["n_baseline"] == 300 and data["mean_ratio"] == pytest.approx(1.3, rel=0.02)


def test_it_keeps_the_true_point_counts_when_judging_a_sample():
    r = _rng(4)
    result = judge_metric(MetricRule("x"), r.normal(0, 1, 100), r.normal(0, 1, 100), n_baseline=9000, n_current=7000)
    assert (result.n_baseline, result.n_current, result.judged_baseline, result.judged_current) == (
        9000,
        7000,
        100,
        100,
    )


def test_it_rejects_an_unknown_direction():
    with pytest.raises(ValueError):
        MetricRule("x", direction="up_is_bad")


@pytest.mark.parametrize(
    "name,direction",
    [
        ("latency_ms", impact.INCREASE_IS_BAD),
        ("http.p99", impact.INCREASE_IS_BAD),
        ("error_rate", impact.INCREASE_IS_BAD),
        ("accuracy", impact.DECREASE_IS_BAD),
        ("model_auc", impact.DECREASE_IS_BAD),
        ("conversion_rate", impact.DECREASE_IS_BAD),
        ("approval-rate", impact.DECREASE_IS_BAD),
        ("requests_in_flight", impact.EITHER),
    ],
)
def test_it_guesses_a_sensible_direction_from_the_metric_name(name, direction):
    assert impact.default_direction(name) == direction


# --- the verdict: hand-worked cases ----------------------------------------------------------------------


def _latency_rule(**kw):
    return MetricRule("latency_ms", impact.INCREASE_IS_BAD, **kw)


def test_identical_series_are_healthy():
    series = _rng(1).gamma(3, 40, 500)
    verdict = judge([_latency_rule()], {"latency_ms": (series, series.copy())})
    assert verdict.verdict == impact.HEALTHY and verdict.score == 100.0
    assert verdict.metrics[0].p_value == 1.0


def test_a_twenty_percent_latency_rise_with_200_points_is_degraded():
    r = _rng(20)
    baseline = r.normal(120, 12, 200)
    current = r.normal(120, 12, 200) * 1.2
    verdict = judge([_latency_rule()], {"latency_ms": (baseline, current)})
    assert verdict.verdict == impact.DEGRADED and verdict.score == 0.0
    assert verdict.metrics[0].classification == impact.HIGH
    assert "latency_ms: significantly higher than baseline" in " ".join(verdict.reasons)


@pytest.mark.parametrize("baseline_size", [0, 1, 29])
def test_a_sparse_or_empty_baseline_is_insufficient_data_never_a_pass(baseline_size):
    r = _rng(baseline_size)
    verdict = judge([_latency_rule()], {"latency_ms": (r.normal(100, 5, baseline_size), r.normal(100, 5, 500))})
    assert verdict.verdict == impact.INSUFFICIENT_DATA and verdict.score is None
    assert verdict.metrics[0].classification == impact.NODATA


def test_a_metric_nobody_posted_is_insufficient_data():
    assert judge([_latency_rule()], {}).verdict == impact.INSUFFICIENT_DATA


def test_a_failing_critical_metric_degrades_the_deploy_even_with_a_high_score():
    r = _rng(30)
    rules = [MetricRule(f"m{i}", impact.EITHER) for i in range(19)] + [
        MetricRule("error_rate", impact.INCREASE_IS_BAD, critical=True)
    ]
    windows = {f"m{i}": (r.normal(10, 1, 300), r.normal(10, 1, 300)) for i in range(19)}
    windows["error_rate"] = (r.normal(0.010, 0.002, 300), r.normal(0.015, 0.002, 300))
    verdict = judge(rules, windows)
    assert verdict.score == 95.0
    assert verdict.verdict == impact.DEGRADED
    assert "critical metric failing: error_rate" in verdict.reasons[0]


def test_a_critical_metric_without_data_cannot_be_vouched_for():
    r = _rng(31)
    rules = [_latency_rule(), MetricRule("auc", impact.DECREASE_IS_BAD, critical=True)]
    verdict = judge(rules, {"latency_ms": (r.normal(100, 5, 300), r.normal(100, 5, 300)), "auc": ([], [])})
    assert verdict.verdict == impact.INSUFFICIENT_DATA


@pytest.mark.parametrize(
    "direction,factor,classification,verdict",
    [
        (impact.INCREASE_IS_BAD, 0.8, impact.PASS, impact.IMPROVED),
        (impact.INCREASE_IS_BAD, 1.2, impact.HIGH, impact.DEGRADED),
        (impact.DECREASE_IS_BAD, 0.8, impact.LOW, impact.DEGRADED),
        (impact.DECREASE_IS_BAD, 1.2, impact.PASS, impact.IMPROVED),
        (impact.EITHER, 0.8, impact.LOW, impact.DEGRADED),
        (impact.EITHER, 1.2, impact.HIGH, impact.DEGRADED),
    ],
)
def test_the_metric_direction_is_respected(direction, factor, classification, verdict):
    r = _rng(40)
    baseline, current = r.normal(50, 4, 300), r.normal(50, 4, 300) * factor
    result = judge([MetricRule("m", direction)], {"m": (baseline, current)})
    assert result.metrics[0].classification == classification
    assert result.verdict == verdict


def test_the_score_maps_to_marginal_and_degraded_at_75_and_below():
    r = _rng(50)

    def windows(failing):
        same = {f"m{i}": (r.normal(10, 1, 200), r.normal(10, 1, 200)) for i in range(4)}
        for i in range(failing):
            same[f"m{i}"] = (r.normal(10, 1, 200), r.normal(14, 1, 200))
        return same

    rules = [MetricRule(f"m{i}", impact.INCREASE_IS_BAD) for i in range(4)]
    one, two = judge(rules, windows(1)), judge(rules, windows(2))
    assert (one.score, one.verdict) == (75.0, impact.MARGINAL)
    assert (two.score, two.verdict) == (50.0, impact.DEGRADED)


def test_an_improvement_beside_a_failure_is_not_improved():
    r = _rng(60)
    rules = [MetricRule(f"lat{i}", impact.INCREASE_IS_BAD) for i in range(20)]
    windows = {f"lat{i}": (r.normal(10, 1, 200), r.normal(10, 1, 200)) for i in range(20)}
    windows["lat0"] = (r.normal(10, 1, 200), r.normal(7, 1, 200))  # better
    windows["lat1"] = (r.normal(10, 1, 200), r.normal(13, 1, 200))  # worse
    verdict = judge(rules, windows)
    assert (verdict.score, verdict.verdict) == (95.0, impact.HEALTHY)


def test_a_deploy_whose_window_has_not_started_is_pending():
    assert judge([_latency_rule()], {}, started=False).verdict == impact.PENDING


def test_the_verdict_is_json_with_its_thresholds_and_reasons():
    r = _rng(70)
    verdict = judge([_latency_rule()], {"latency_ms": (r.normal(100, 5, 200), r.normal(100, 5, 200))})
    data = json.loads(json.dumps(verdict.to_dict(), allow_nan=False))
    assert data["thresholds"] == {"healthy": 95.0, "marginal": 75.0}
    assert data["reasons"][0].startswith("healthy: 1 of 1 metrics pass")
    assert data["metrics"][0]["name"] == "latency_ms"
