"""Drift statistics against independent references.

Published figures (issue #4, acceptance 1) come from Evidently 0.7.23 and SciPy on the same seeded
draws; they are quoted to six significant figures, so a match means "equal when rounded to the
published digits" (the rounding alone is up to 2.2e-6 relative). Each exact path is also checked
against a direct SciPy / hand formula call on the raw arrays to 1e-9 relative.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from scipy.spatial import distance

from metrics.stats import drift
from metrics.stats.sketch import categorical_sketch, merge, numeric_sketch


def same_to_published(value: float, published: str) -> bool:
    digits = len(published.split("e")[0].replace(".", "").replace("-", "").lstrip("0"))
    return f"{value:.{digits - 1}e}" == f"{float(published):.{digits - 1}e}"


@pytest.fixture(scope="module")
def draws() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    ref_num = rng.normal(0, 1, 5000)
    cur_num = rng.normal(0.2, 1.1, 5000)
    ref_cat = rng.choice(list("abcd"), 5000, p=[0.4, 0.3, 0.2, 0.1])
    cur_cat = rng.choice(list("abcd"), 5000, p=[0.35, 0.3, 0.2, 0.15])
    return {"ref_num": ref_num, "cur_num": cur_num, "ref_cat": ref_cat, "cur_cat": cur_cat}


def counts(values: np.ndarray) -> np.ndarray:
    return np.array([(values == level).sum() for level in "abcd"])


def rng() -> np.random.Generator:
    return np.random.default_rng(2024)


# --- the published numbers, through the same path the report uses (complete sketches) -----------


def test_it_reproduces_evidentlys_normalised_wasserstein_and_flags_it(draws):
    result = drift.compare_column(
        numeric_sketch(draws["ref_num"], rng=rng()),
        numeric_sketch(draws["cur_num"], rng=rng()),
        column="x",
        kind="numeric",
    )
    scipy_value = stats.wasserstein_distance(draws["ref_num"], draws["cur_num"]) / np.std(draws["ref_num"])
    assert result.method == "wasserstein" and result.exact
    assert same_to_published(result.score, "0.223235")
    assert result.score == pytest.approx(scipy_value, rel=1e-9)
    assert result.drifted and result.verdict == "drifted"


def test_it_reproduces_evidentlys_jensen_shannon_and_does_not_flag_it(draws):
    result = drift.compare_column(
        categorical_sketch(list(draws["ref_cat"])),
        categorical_sketch(list(draws["cur_cat"])),
        column="c",
        kind="categorical",
    )
    ref, cur = counts(draws["ref_cat"]), counts(draws["cur_cat"])
    assert result.method == "jensenshannon"
    assert same_to_published(result.score, "0.0674247")
    assert result.score == pytest.approx(distance.jensenshannon(ref / 5000, cur / 5000), rel=1e-9)
    assert not result.drifted and result.verdict == "stable"


def test_it_reproduces_evidentlys_ks_p_value_on_the_first_800_rows(draws):
    result = drift.compare_column(
        numeric_sketch(draws["ref_num"][:800], rng=rng()),
        numeric_sketch(draws["cur_num"][:800], rng=rng()),
        column="x",
        kind="numeric",
    )
    assert result.method == "ks" and result.exact
    assert same_to_published(result.p_value, "2.24019e-07")
    assert result.p_value == pytest.approx(stats.ks_2samp(draws["ref_num"][:800], draws["cur_num"][:800]).pvalue)
    assert result.drifted


def test_it_reproduces_evidentlys_goodness_of_fit_chi_square_when_asked(draws):
    settings = drift.DriftSettings(columns={"c": drift.ColumnRule(method="chisquare_gof")})
    result = drift.compare_column(
        categorical_sketch(list(draws["ref_cat"])),
        categorical_sketch(list(draws["cur_cat"])),
        column="c",
        kind="categorical",
        settings=settings,
    )
    assert same_to_published(result.p_value, "3.49976e-49")
    assert result.drifted


def test_it_gives_scipys_two_sample_chi_square_on_the_2_by_k_table(draws):
    settings = drift.DriftSettings(columns={"c": drift.ColumnRule(method="chisquare")})
    result = drift.compare_column(
        categorical_sketch(list(draws["ref_cat"])),
        categorical_sketch(list(draws["cur_cat"])),
        column="c",
        kind="categorical",
        settings=settings,
    )
    assert same_to_published(result.statistic, "90.1358")
    assert same_to_published(result.p_value, "2.04826e-19")
    reference = stats.chi2_contingency(np.vstack([counts(draws["ref_cat"]), counts(draws["cur_cat"])]))
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-9)


def test_it_uses_the_two_sample_chi_square_by_default_on_a_small_reference(draws):
    ref, cur = categorical_sketch(list(draws["ref_cat"][:800])), categorical_sketch(list(draws["cur_cat"][:800]))
    default = drift.compare_column(ref, cur, column="c", kind="categorical")
    evidently_form = drift.compare_column(
        ref, cur, column="c", kind="categorical", settings=drift.DriftSettings(categorical_method="chisquare_gof")
    )
    assert default.method == "chisquare"
    assert same_to_published(default.p_value, "0.0150064")
    assert evidently_form.method == "chisquare_gof"
    assert same_to_published(evidently_form.p_value, "4.45356e-05")


def test_it_reports_psi_on_ten_reference_deciles_floored_at_1e_4(draws):
    result = drift.compare_column(
        numeric_sketch(draws["ref_num"], rng=rng()),
        numeric_sketch(draws["cur_num"], rng=rng()),
        column="x",
        kind="numeric",
    )
    assert same_to_published(result.psi, "0.0662551")
    assert len(result.bins) == 10
    assert [b["ref"] for b in result.bins] == [500] * 10
    assert sum(b["cur"] for b in result.bins) == 5000


# --- hand-worked cases ---------------------------------------------------------------------------


def test_it_computes_psi_like_the_hand_worked_example():
    # bins: ref (0.5, 0.5, 0), cur (0.25, 0.5, 0.25); the empty bin is floored at 1e-4
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + 0 + (0.25 - 1e-4) * math.log(0.25 / 1e-4)
    assert drift.psi([0.5, 0.5, 0.0], [0.25, 0.5, 0.25]) == pytest.approx(expected, rel=1e-12)


def test_it_computes_the_two_proportion_z_test_like_the_hand_worked_example():
    # 30/100 against 45/100: pooled 0.375, se = sqrt(0.375 * 0.625 * 0.02), z = -0.15 / se
    se = math.sqrt(0.375 * 0.625 * 0.02)
    z, p_value = drift.z_test(30, 100, 45, 100)
    assert z == pytest.approx(-0.15 / se, rel=1e-12)
    assert p_value == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), rel=1e-12)
    # the same test is the uncorrected chi-square on the 2 x 2 table
    chi2 = stats.chi2_contingency([[30, 70], [45, 55]], correction=False)
    assert p_value == pytest.approx(chi2.pvalue, rel=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_it_computes_the_wasserstein_distance_as_scipy_does(seed):
    gen = np.random.default_rng(seed)
    ref, cur = gen.lognormal(0, 1, 3000), np.round(gen.normal(1, 2, 2500), 1)  # ties and unequal sizes
    assert drift.wasserstein_distance(ref, cur) == pytest.approx(stats.wasserstein_distance(ref, cur), rel=1e-12)


def test_it_floors_the_reference_std_at_one_thousandth():
    ref, cur = np.full(2000, 3.0), np.full(2000, 3.05)
    assert drift.wasserstein_norm(ref, cur) == pytest.approx(0.05 / 0.001)


def test_it_gives_the_goodness_of_fit_p_value_zero_for_a_level_the_reference_never_saw():
    statistic, p_value = drift.chisquare_gof(np.array([50, 50, 0]), np.array([40, 40, 20]))
    assert statistic is None and p_value == 0.0


# --- method choice, overrides, thresholds ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "n_ref", "n_values", "method"),
    [
        ("numeric", 1000, 50, "ks"),
        ("numeric", 1001, 50, "wasserstein"),
        ("numeric", 1000, 5, "chisquare"),
        ("numeric", 1000, 2, "z"),
        ("numeric", 1001, 5, "jensenshannon"),
        ("categorical", 1000, 3, "chisquare"),
        ("categorical", 1000, 2, "z"),
        ("boolean", 1000, 2, "z"),
        ("categorical", 1001, 2, "jensenshannon"),
    ],
)
def test_it_chooses_evidentlys_default_method_by_reference_size(kind, n_ref, n_values, method):
    assert drift.choose_method(kind, n_ref, n_values, drift.DriftSettings()) == method


def test_it_applies_a_per_column_method_and_threshold_override(draws):
    settings = drift.DriftSettings(columns={"x": drift.ColumnRule(method="psi", threshold=0.05)})
    result = drift.compare_column(
        numeric_sketch(draws["ref_num"], rng=rng()),
        numeric_sketch(draws["cur_num"], rng=rng()),
        column="x",
        kind="numeric",
        settings=settings,
    )
    assert result.method == "psi" and result.threshold == 0.05
    assert same_to_published(result.score, "0.0662551")
    assert result.drifted


def test_it_judges_a_two_valued_numeric_column_with_the_z_test():
    ref = numeric_sketch(np.r_[np.zeros(300), np.ones(200)], rng=rng())
    cur = numeric_sketch(np.r_[np.zeros(200), np.ones(300)], rng=rng())
    result = drift.compare_column(ref, cur, column="label", kind="numeric", role="label")
    _, p_value = drift.z_test(300, 500, 200, 500)
    assert result.method == "z"
    assert result.p_value == pytest.approx(p_value, rel=1e-12)
    assert result.drifted


def test_it_says_insufficient_data_below_the_minimum_sample():
    result = drift.compare_column(
        numeric_sketch(np.arange(10.0), rng=rng()),
        numeric_sketch(np.arange(50.0), rng=rng()),
        column="x",
        kind="numeric",
    )
    assert result.verdict == "insufficient_data" and result.method is None


# --- the missing-value rate ---------------------------------------------------------------------


def test_it_flags_a_jump_in_the_missing_value_rate_on_its_own():
    values = np.random.default_rng(3).normal(size=2000)
    ref = numeric_sketch(values[:1000], nulls=10, rng=rng())
    cur = numeric_sketch(values[1000:], nulls=200, rng=rng())
    result = drift.compare_column(ref, cur, column="x", kind="numeric")
    assert not result.drifted  # the values themselves did not move
    assert result.null_drifted and result.verdict == "drifted"
    assert result.null_rate_cur == pytest.approx(200 / 1200)
    _, p_value = drift.z_test(10, 1010, 200, 1200)
    assert result.null_p_value == pytest.approx(p_value)


def test_it_ignores_a_significant_but_tiny_change_in_the_missing_value_rate():
    ref = numeric_sketch(np.arange(1_000_000.0), nulls=0, rng=rng())
    cur = numeric_sketch(np.arange(1_000_000.0), nulls=5_000, rng=rng())
    result = drift.compare_column(ref, cur, column="x", kind="numeric")
    assert result.null_p_value < 1e-10
    assert not result.null_drifted


# --- the deploy: drift share, expected drift, model change ------------------------------------------


def columns_with(drifted: set[str], names: list[str], role_of: dict[str, str] | None = None):
    gen = np.random.default_rng(11)
    out = []
    for name in names:
        ref = gen.normal(0, 1, 3000)
        cur = gen.normal(1.0 if name in drifted else 0.0, 1, 3000)
        out.append(
            drift.ColumnInput(
                column=name,
                kind="numeric",
                ref=numeric_sketch(ref, rng=rng()),
                cur=numeric_sketch(cur, rng=rng()),
                role=(role_of or {}).get(name, "feature"),
            )
        )
    return out


def test_it_calls_dataset_drift_when_half_the_columns_drift():
    report = drift.drift_report(columns_with({"a", "b"}, ["a", "b", "c", "d"]))
    assert (report.n_drifted, report.n_columns, report.drift_share) == (2, 4, 0.5)
    assert report.dataset_drift
    report = drift.drift_report(columns_with({"a"}, ["a", "b", "c", "d"]))
    assert not report.dataset_drift


def test_it_reports_expected_drift_without_counting_it():
    report = drift.drift_report(columns_with({"a", "b"}, ["a", "b", "c", "d"]), expected_drift=["a"])
    verdicts = {c.column: c.verdict for c in report.columns}
    assert verdicts == {"a": "expected", "b": "drifted", "c": "stable", "d": "stable"}
    assert (report.n_drifted, report.n_expected) == (1, 1)
    assert not report.dataset_drift


def test_it_blames_the_model_change_for_prediction_drift_with_stable_inputs():
    roles = {"prediction": "prediction"}
    report = drift.drift_report(columns_with({"prediction"}, ["a", "b", "prediction"], roles))
    assert report.prediction_drift_cause == "model_change"
    assert next(c for c in report.columns if c.column == "prediction").cause == "model_change"
    report = drift.drift_report(columns_with({"a", "prediction"}, ["a", "b", "prediction"], roles))
    assert report.prediction_drift_cause == "input_drift"


def test_it_sorts_the_report_by_severity_and_serialises_to_finite_json():
    report = drift.drift_report(columns_with({"a", "b"}, ["c", "a", "b"]))
    assert [c.verdict for c in report.columns][:2] == ["drifted", "drifted"]
    assert report.columns[0].severity >= report.columns[1].severity
    as_dict = report.as_dict()
    assert as_dict["columns"][2]["verdict"] == "stable"
    assert all(isinstance(b["ref"], int) for b in as_dict["columns"][0]["bins"])


# --- false alarms on unchanged columns, 1,000 rows per side --------------------------------------


def flag_rate(draw, kind: str, settings: drift.DriftSettings, reps: int, seed: int) -> float:
    gen = np.random.default_rng(seed)
    flagged = 0
    for _ in range(reps):
        ref, cur = draw(gen), draw(gen)
        if kind == "numeric":
            # NaN stands for a missing value here: the null-rate check runs too
            a = numeric_sketch(ref[~np.isnan(ref)], nulls=int(np.isnan(ref).sum()), rng=gen)
            b = numeric_sketch(cur[~np.isnan(cur)], nulls=int(np.isnan(cur).sum()), rng=gen)
        else:
            a, b = categorical_sketch(list(ref)), categorical_sketch(list(cur))
        flagged += drift.compare_column(a, b, column="x", kind=kind, settings=settings).verdict == "drifted"
    return flagged / reps


# skewed 50-level proportions, the shape of the bench's many-level categoricals
LEVELS = np.array([f"v{i:02d}" for i in range(50)], dtype=object)
PROPORTIONS = np.sort(np.random.default_rng(7).dirichlet(np.full(50, 1.5)))[::-1]
UNCHANGED = {
    "categorical": lambda g: LEVELS[g.choice(50, 1000, p=PROPORTIONS)],
    "boolean": lambda g: g.random(1000) < 0.3,
    "numeric": lambda g: g.normal(3, 2, 1000),
    "numeric with 4 values": lambda g: g.integers(0, 4, 1000).astype(float),
    "numeric with 10 % missing": lambda g: np.where(g.random(1000) < 0.1, np.nan, g.lognormal(0, 1, 1000)),
}
REPS = 600
# one-sided 99.9 % binomial bound above 5 % for REPS runs: the false-positive rate is at most 5 %
BOUND = 0.05 + 3.09 * math.sqrt(0.05 * 0.95 / REPS)


@pytest.mark.parametrize("column", list(UNCHANGED))
def test_it_flags_unchanged_columns_no_more_often_than_the_tests_5_percent(column):
    kind = "numeric" if column.startswith("numeric") else column
    assert flag_rate(UNCHANGED[column], kind, drift.DriftSettings(), REPS, seed=101) <= BOUND


def test_it_shows_why_the_goodness_of_fit_form_is_not_the_default():
    settings = drift.DriftSettings(categorical_method="chisquare_gof")
    assert flag_rate(UNCHANGED["categorical"], "categorical", settings, 100, seed=101) > 0.5


# --- binned and sampled paths give the same verdicts --------------------------------------------


def streamed(values: np.ndarray, *, capacity: int, edges: np.ndarray | None, seed: int):
    gen = np.random.default_rng(seed)
    sketch = numeric_sketch(values[:250], rng=gen, capacity=capacity, edges=edges)
    for start in range(250, len(values), 250):
        batch = numeric_sketch(values[start : start + 250], rng=gen, capacity=capacity, edges=edges)
        sketch = merge(sketch, batch, edges=edges, rng=gen, capacity=capacity)
    return sketch


def test_it_gives_the_same_verdicts_from_overflowed_sketches_within_the_documented_error(draws):
    # 5,000 values through 1,000-value reservoirs: Wasserstein from the bin counts and sums of every
    # value, PSI on deciles regrouped from the frozen fine bins
    exact = stats.wasserstein_distance(draws["ref_num"], draws["cur_num"]) / np.std(draws["ref_num"])
    for seed in range(8):
        ref = streamed(draws["ref_num"], capacity=1000, edges=None, seed=seed)
        cur = streamed(draws["cur_num"], capacity=1000, edges=ref.edges, seed=seed + 100)
        result = drift.compare_column(ref, cur, column="x", kind="numeric")
        assert not result.exact and result.sample_ref == 5000 and result.n_ref == 5000
        assert result.verdict == "drifted"
        assert abs(result.score - exact) <= result.error_bound <= 0.002
        assert abs(result.psi - 0.0662551) < 0.01


def test_it_keeps_the_same_ks_verdict_when_the_current_side_is_sampled(draws):
    ref = numeric_sketch(draws["ref_num"][:800], rng=rng())
    cur = streamed(draws["cur_num"], capacity=1000, edges=None, seed=5)
    result = drift.compare_column(ref, cur, column="x", kind="numeric")
    assert result.method == "ks" and not result.exact
    assert result.drifted
    exact = stats.ks_2samp(draws["ref_num"][:800], draws["cur_num"])
    assert 0 <= exact.statistic - result.statistic <= result.error_bound < 0.005


# --- KS and Wasserstein from binned sketches against SciPy on every value (issue #16) -------------

BINNED_ROWS = 200_000


def binned(values: np.ndarray, edges: np.ndarray | None, seed: int) -> object:
    """`values` streamed in 20,000-row batches, as ingest would merge them."""
    gen = np.random.default_rng(seed)
    sketch = None
    for start in range(0, len(values), 20_000):
        batch = numeric_sketch(values[start : start + 20_000], rng=gen, edges=edges)
        sketch = batch if sketch is None else merge(sketch, batch, edges=edges, rng=gen)
        edges = sketch.edges if edges is None else edges
    return sketch


def binned_pair(ref_values: np.ndarray, cur_values: np.ndarray) -> tuple[object, object]:
    ref = binned(ref_values, None, seed=1)
    return ref, binned(cur_values, ref.edges, seed=2)


def heavy_and_shifted_columns() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    gen = np.random.default_rng(16)
    n = BINNED_ROWS
    return {
        "stable normal": (gen.normal(size=n), gen.normal(size=n)),
        "small shift": (gen.normal(size=n), gen.normal(0.03, 1, size=n)),
        "lognormal tail": (gen.lognormal(0, 2, size=n), gen.lognormal(0, 2, size=n)),
        "pareto tail": (gen.pareto(1.5, size=n), gen.pareto(1.5, size=n)),
        "beyond the reference range": (gen.normal(size=n), gen.normal(6, 2, size=n)),
        "wider, heavy-tailed current": (gen.normal(size=n), 3 * gen.standard_t(2, size=n)),
        "integers past the reference maximum": (
            gen.integers(0, 50, size=n).astype(float),
            gen.integers(0, 52, size=n).astype(float),
        ),
    }


@pytest.mark.parametrize("name", list(heavy_and_shifted_columns()))
def test_it_reads_wasserstein_from_binned_sketches_within_the_documented_error_of_scipy_on_every_row(name):
    ref_values, cur_values = heavy_and_shifted_columns()[name]
    ref, cur = binned_pair(ref_values, cur_values)
    result = drift.compare_column(ref, cur, column="x", kind="numeric")
    exact = stats.wasserstein_distance(ref_values, cur_values) / np.std(ref_values)
    assert result.method == "wasserstein" and not result.exact and result.sample_cur == BINNED_ROWS
    # The reported distance is a lower bound (never flags what the exact one would not) within its bound
    assert exact - result.error_bound - 1e-7 * exact <= result.score <= exact + 1e-7 * exact
    error = abs(result.score - exact)
    assert error <= max(0.01 * exact, 0.002)  # and the acceptance tolerance (issue #16, 5)


@pytest.mark.parametrize("name", list(heavy_and_shifted_columns()))
def test_it_reads_ks_from_binned_sketches_within_its_bound_with_a_conservative_p_value(name):
    ref_values, cur_values = heavy_and_shifted_columns()[name]
    ref, cur = binned_pair(ref_values, cur_values)
    result = drift.compare_column(ref, cur, column="x", kind="numeric", settings=ks_everywhere())
    exact = stats.ks_2samp(ref_values, cur_values)
    assert result.method == "ks" and not result.exact
    # The statistic is read at the bin edges: never above the exact one, and below by at most the bound
    assert -1e-12 <= exact.statistic - result.statistic <= result.error_bound + 1e-12
    assert exact.statistic - result.statistic <= max(0.01 * exact.statistic, 0.002)
    # so its p-value is never below SciPy's: the test never flags what the exact test would not
    assert result.p_value >= exact.pvalue - 1e-12


def ks_everywhere() -> drift.DriftSettings:
    return drift.DriftSettings(columns={"x": drift.ColumnRule(method="ks")})


def test_it_bounds_the_ks_error_by_the_shares_of_the_bins_both_sides_occupy():
    # hand-worked: bins (-inf, 0), [0, 1), [1, inf); D at the edges is 0.1 and 0.2; the middle bin
    # holds 0.3 of the reference and 0.5 of the current, so D may rise by 0.3 inside it
    ref = drift.BinnedSide(counts=np.array([4, 3, 3]), sums=np.array([-4.0, 1.5, 4.5]), lo=-2.0, hi=2.0)
    cur = drift.BinnedSide(counts=np.array([3, 5, 2]), sums=np.array([-3.0, 2.5, 3.0]), lo=-2.0, hi=2.0)
    statistic, bound = drift.binned_ks(ref, cur)
    assert statistic == pytest.approx(0.1) and bound == pytest.approx(0.3)


def test_it_computes_the_ks_p_value_as_scipy_does_above_ten_thousand_values():
    gen = np.random.default_rng(3)
    a, b = gen.normal(size=30_000), gen.normal(0.01, 1, size=12_000)
    exact = stats.ks_2samp(a, b)
    assert drift.ks_p_value(exact.statistic, len(a), len(b)) == pytest.approx(exact.pvalue, rel=1e-9)


def test_it_is_exact_for_wasserstein_when_the_current_lies_wholly_beyond_the_reference():
    gen = np.random.default_rng(4)
    ref_values, cur_values = gen.normal(size=50_000), gen.normal(20, 1, size=50_000)
    ref, cur = binned_pair(ref_values, cur_values)
    result = drift.compare_column(ref, cur, column="x", kind="numeric")
    exact = stats.wasserstein_distance(ref_values, cur_values) / np.std(ref_values)
    assert result.error_bound <= 1e-9 * exact and result.score == pytest.approx(exact, rel=1e-9)


def test_it_reads_the_exact_reference_std_from_merged_moments():
    gen = np.random.default_rng(5)
    values = 1e9 + gen.normal(size=100_000)  # a large mean: the naive sum-of-squares form would cancel
    sketch = binned(values, None, seed=3)
    assert sketch.std == pytest.approx(np.std(values), rel=1e-9)
    assert (sketch.lo, sketch.hi) == (values.min(), values.max())


def test_it_compares_a_binned_continuous_column_on_about_a_hundred_reference_quantile_bins_for_count_tests():
    gen = np.random.default_rng(6)
    ref, cur = binned_pair(gen.normal(size=60_000), gen.normal(size=60_000))
    settings = drift.DriftSettings(columns={"x": drift.ColumnRule(method="jensenshannon")})
    result = drift.compare_column(ref, cur, column="x", kind="numeric", settings=settings)
    assert 90 <= len(result.bins) <= 100
    assert sum(b["ref"] for b in result.bins) == 60_000 and sum(b["cur"] for b in result.bins) == 60_000
    shares = np.array([b["ref"] for b in result.bins]) / 60_000
    assert shares.max() < 0.02  # each about 1 % of the reference
    assert result.verdict == "stable"
