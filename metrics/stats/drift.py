"""Drift of a deploy's inputs and predictions against its baseline deploy (no Django imports).

Defaults follow Evidently 0.7's `DataDriftPreset` so results can be cross-checked column by column:

* reference n <= 1000 — numeric: two-sample Kolmogorov-Smirnov, drift at p <= 0.05;
  categorical: chi-square, drift at p < 0.05; at most two values: two-proportion z-test, p < 0.05;
* reference n > 1000 — numeric: Wasserstein distance / reference std (std floored at 0.001),
  drift at >= 0.1; categorical: Jensen-Shannon distance (natural log), drift at >= 0.1;
* a numeric column with at most 5 distinct values (both sides together) is tested as categorical;
* n counts non-null values only.

One deliberate improvement: for categoricals the default chi-square is the two-sample test of
homogeneity on the 2 x k table of counts. Evidently's goodness-of-fit form treats the reference
proportions as exact and flags unchanged many-level columns far above 5 % on small references; it stays
available as the method `chisquare_gof`.

Beyond Evidently: PSI is always reported (reference deciles, proportions floored at 1e-4); the change in
the missing-value rate is its own check; columns a deploy names in `expected_drift` are reported but
never page; prediction drift with stable inputs is labelled as caused by the model change.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np
from scipy import stats
from scipy.spatial import distance

from metrics.stats.sketch import (
    OTHER,
    CategoricalSketch,
    NumericSketch,
    Sketch,
    bin_counts,
    bin_counts_and_sums,
    binned_counts,
    binned_sums,
)

SMALL_REFERENCE = 1000  # Evidently switches from tests to distances above this reference size
LOW_CARDINALITY = 5  # numeric columns with at most this many distinct values are tested as categorical
PSI_BINS = 10
COUNT_BINS = 100  # bins of a continuous column for count tests when its sketches are binned
PSI_FLOOR = 1e-4
STD_FLOOR = 0.001
HISTOGRAM_BINS = 30

P_VALUE_METHODS = frozenset({"ks", "chisquare", "chisquare_gof", "z"})
DISTANCE_METHODS = frozenset({"wasserstein", "jensenshannon", "psi"})
METHODS = P_VALUE_METHODS | DISTANCE_METHODS
DEFAULT_THRESHOLDS = {
    "ks": 0.05,
    "chisquare": 0.05,
    "chisquare_gof": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
}
ROLES = ("feature", "prediction", "label")


# --- exact statistics on raw values or counts ----------------------------------------------------


def ks_test(ref: np.ndarray, cur: np.ndarray) -> tuple[float, float]:
    """Two-sided two-sample Kolmogorov-Smirnov: (statistic, p-value)."""
    result = stats.ks_2samp(ref, cur)
    return float(result.statistic), float(result.pvalue)


def wasserstein_distance(ref: np.ndarray, cur: np.ndarray) -> float:
    """First Wasserstein distance of two unweighted samples: the area between their empirical CDFs.

    The same formula as `scipy.stats.wasserstein_distance` (tests hold it to SciPy), without its
    array-API dispatch, which costs more than the arithmetic on 10,000-value samples.
    """
    pooled = np.concatenate([ref, cur])
    order = np.argsort(pooled, kind="stable")
    from_ref = order < len(ref)
    # Within a run of tied values the gap is zero, so counting up to each position equals counting all ties.
    ref_cdf = np.cumsum(from_ref)[:-1] / len(ref)
    cur_cdf = np.cumsum(~from_ref)[:-1] / len(cur)
    return float(np.sum(np.abs(ref_cdf - cur_cdf) * np.diff(pooled[order])))


def wasserstein_norm(ref: np.ndarray, cur: np.ndarray) -> float:
    """First Wasserstein distance divided by the reference's population std (floored at 0.001)."""
    return wasserstein_distance(ref, cur) / max(float(np.std(ref)), STD_FLOOR)


def ks_p_value(statistic: float, n_ref: int, n_cur: int) -> float:
    """Two-sided p-value of a two-sample KS statistic as `scipy.stats.ks_2samp` computes it above
    10,000 values on a side (its 'asymp' method: the one-sample distribution at n*m/(n+m))."""
    return float(min(1.0, max(0.0, stats.kstwo.sf(statistic, round(n_ref * n_cur / (n_ref + n_cur))))))


# --- KS and Wasserstein from binned sketches, with a guaranteed error bound ----------------------
#
# Each side is known through exact counts c_b and sums s_b of its values in the same bins (frozen
# quantile bins plus the side's exact minimum and maximum). At every inner edge both empirical CDFs are
# exact, so D(x) = F_ref(x) - F_cur(x) is exact there.
#
# KS: the largest |D| over the edges, D_edge, is a lower bound of the exact statistic. Inside a bin D
# moves by at most the smaller of the two sides' shares of that bin, so
#     D_edge <= D_exact <= D_edge + max_b min(p_b, q_b).
# The p-value is computed on D_edge, hence never below the exact p-value: the test stays valid (never
# flags drift the exact test would not), merely conservative by that bound.
#
# Wasserstein: the integral of D over each bin is exact, from the bin's counts and sums:
#     integral over [l, r) of F(x) dx = F(l) (r - l) + sum over the bin's values v of (r - v) / n
# (the outer bins end at the exact minimum and maximum, beyond which D = 0). The reported distance is
# L = sum_b |integral of D over b|, a lower bound of W1 that is exact wherever D keeps its sign inside a
# bin. An upper bound: replace each side's values in a bin by one point at their mean (same count, same
# sum) and take W1 of the two compressed distributions, plus, for each bin where D might change sign,
# p_b E|X - mean_b| + q_b E|Y - mean_b'| (the W1 distance between a bin's values and their mean), with
# E|X - mean| <= 2 (mean - a)(z - mean)/(z - a) for values in [a, z]. Where D(left) >= p_b, D(right) >=
# q_b (or the mirror with signs swapped) D keeps its sign across the bin and the bin is exact. The
# reported bound is upper - L: the exact distance lies in [L, L + bound].


@dataclass
class BinnedSide:
    """One side's exact counts, sums and range on shared bins."""

    counts: np.ndarray
    sums: np.ndarray
    lo: float
    hi: float

    @property
    def n(self) -> int:
        return int(self.counts.sum())


def binned_ks(ref: BinnedSide, cur: BinnedSide) -> tuple[float, float]:
    """(KS statistic on the edges, its guaranteed maximum error)."""
    p, q = ref.counts / ref.n, cur.counts / cur.n
    at_edges = np.cumsum(p)[:-1] - np.cumsum(q)[:-1]
    statistic = float(np.max(np.abs(at_edges))) if len(at_edges) else 0.0
    return statistic, float(np.max(np.minimum(p, q)))


def binned_wasserstein(ref: BinnedSide, cur: BinnedSide, edges: np.ndarray) -> tuple[float, float]:
    """(W1 lower bound from the exact per-bin integrals of the CDF gap, the most it can be below W1)."""
    p, q = ref.counts / ref.n, cur.counts / cur.n
    d = np.concatenate([[0.0], np.cumsum(p)[:-1] - np.cumsum(q)[:-1], [0.0]])  # D at each bin's two ends
    left, right = d[:-1], d[1:]
    starts = np.concatenate([[min(ref.lo, cur.lo)], edges])
    ends = np.concatenate([edges, [max(ref.hi, cur.hi)]])
    integrals = left * (ends - starts) + (ref.counts * ends - ref.sums) / ref.n - (cur.counts * ends - cur.sums) / cur.n
    lower = float(np.sum(np.abs(integrals)))
    ref_means = np.divide(ref.sums, ref.counts, out=np.zeros(len(p)), where=ref.counts > 0)
    cur_means = np.divide(cur.sums, cur.counts, out=np.zeros(len(q)), where=cur.counts > 0)
    compressed = _weighted_wasserstein(ref_means[p > 0], p[p > 0], cur_means[q > 0], q[q > 0])
    keeps_sign = (left >= p) | (right >= q) | (left <= -q) | (right <= -p)
    spread = p * _max_mean_deviation(ref_means, ref.lo, ref.hi, edges) + q * _max_mean_deviation(
        cur_means, cur.lo, cur.hi, edges
    )
    upper = compressed + float(np.sum(np.where(keeps_sign, 0.0, spread)))
    return lower, max(upper - lower, 0.0)


def _max_mean_deviation(means: np.ndarray, lo: float, hi: float, edges: np.ndarray) -> np.ndarray:
    """Largest possible E|X - mean| of each bin's values given their mean and the bin's bounds."""
    a = np.concatenate([[lo], edges])
    z = np.concatenate([edges, [hi]])
    a, z = np.minimum(a, means), np.maximum(z, means)  # the side's range bounds its own outer bins
    width = z - a
    return np.divide(2 * (means - a) * (z - means), width, out=np.zeros(len(means)), where=width > 0)


def _weighted_wasserstein(u: np.ndarray, u_weights: np.ndarray, v: np.ndarray, v_weights: np.ndarray) -> float:
    """W1 between two weighted point sets (weights summing to one each): the area between their CDFs."""
    pooled = np.concatenate([u, v])
    order = np.argsort(pooled, kind="stable")
    signed = np.concatenate([u_weights, -v_weights])[order]
    return float(np.sum(np.abs(np.cumsum(signed)[:-1]) * np.diff(pooled[order])))


def jensen_shannon(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Jensen-Shannon distance (natural log) between the two count vectors' proportions."""
    ref_counts, cur_counts = (
        np.asarray(ref_counts, float),
        np.asarray(cur_counts, float),
    )
    return float(distance.jensenshannon(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()))


def chisquare_two_sample(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity on the 2 x k table (no continuity correction)."""
    table = np.vstack([ref_counts, cur_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]  # a level neither side has carries no information
    if table.shape[1] < 2:
        return 0.0, 1.0
    result = stats.chi2_contingency(table, correction=False)
    return float(result.statistic), float(result.pvalue)


def chisquare_gof(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[float | None, float]:
    """Evidently's form: current counts against reference proportions taken as exact."""
    ref_counts, cur_counts = (
        np.asarray(ref_counts, float),
        np.asarray(cur_counts, float),
    )
    expected = ref_counts * cur_counts.sum() / ref_counts.sum()
    if np.any((expected == 0) & (cur_counts > 0)):
        return (
            None,
            0.0,
        )  # a level the reference never saw: infinitely unlikely under its proportions
    keep = expected > 0
    result = stats.chisquare(cur_counts[keep], expected[keep])
    return float(result.statistic), float(result.pvalue)


def z_test(ref_hits: int, ref_n: int, cur_hits: int, cur_n: int) -> tuple[float, float]:
    """Two-sided two-proportion z-test with the pooled proportion: (z, p-value)."""
    pooled = (ref_hits + cur_hits) / (ref_n + cur_n)
    variance = pooled * (1 - pooled) * (1 / ref_n + 1 / cur_n)
    if variance == 0:
        return 0.0, 1.0
    z = (ref_hits / ref_n - cur_hits / cur_n) / math.sqrt(variance)
    return z, float(2 * stats.norm.sf(abs(z)))


def psi(ref_props: np.ndarray, cur_props: np.ndarray) -> float:
    """Population stability index over matching bins; proportions floored at 1e-4."""
    r = np.maximum(np.asarray(ref_props, float), PSI_FLOOR)
    c = np.maximum(np.asarray(cur_props, float), PSI_FLOOR)
    return float(np.sum((c - r) * np.log(c / r)))


def decile_edges(ref: np.ndarray) -> np.ndarray:
    """Inner edges at the reference's 10 %, …, 90 % quantiles; the end bins are open."""
    return np.unique(np.quantile(ref, np.arange(1, PSI_BINS) / PSI_BINS))


def psi_on_deciles(ref: np.ndarray, cur: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """PSI on the reference's deciles: (psi, inner edges, reference counts, current counts)."""
    edges = decile_edges(ref)
    ref_counts, cur_counts = bin_counts(ref, edges), bin_counts(cur, edges)
    return (
        psi(ref_counts / len(ref), cur_counts / len(cur)),
        edges,
        ref_counts,
        cur_counts,
    )


def group_into_deciles(edges: np.ndarray, ref_counts: np.ndarray, groups: int = PSI_BINS) -> list[int]:
    """Indices of fine inner edges that split the reference mass closest to 10 %, 20 %, …, 90 %
    (or to the 1/groups, 2/groups, … quantiles)."""
    cumulative = np.cumsum(ref_counts)[:-1] / ref_counts.sum()  # mass below each inner edge
    chosen = {int(np.argmin(np.abs(cumulative - q))) for q in np.arange(1, groups) / groups}
    return sorted(chosen)


def regroup(counts: np.ndarray, cut_indices: list[int]) -> np.ndarray:
    """Sum fine-bin counts into the coarse bins split after the fine inner edges `cut_indices`."""
    starts = [0] + [i + 1 for i in cut_indices]
    return np.add.reduceat(counts, starts)


# --- settings --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ColumnRule:
    """A per-service override for one column."""

    method: str | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class DriftSettings:
    drift_share: float = 0.5  # dataset drift when at least this share of judged columns drift
    categorical_method: str = "chisquare"  # or "chisquare_gof" (Evidently's form) for cross-checks
    min_n: int = 30  # fewer non-null values on either side: insufficient data, never a verdict
    # The missing-rate check adds to the value test's false alarms, so it asks for strong evidence
    # (p < 0.001) and a change that matters (2 points): a column's false-alarm rate stays at the test's 5 %.
    null_p_value: float = 0.001
    null_min_change: float = 0.02
    columns: Mapping[str, ColumnRule] = field(default_factory=dict)


def choose_method(kind: str, n_ref: int, n_values: int, settings: DriftSettings, column: str = "") -> str:
    """Evidently's default choice by reference size and distinct values, unless overridden."""
    rule = settings.columns.get(column)
    if rule and rule.method:
        return rule.method
    continuous = kind == "numeric" and n_values > LOW_CARDINALITY
    if n_ref <= SMALL_REFERENCE:
        if continuous:
            return "ks"
        return "z" if n_values <= 2 else settings.categorical_method
    return "wasserstein" if continuous else "jensenshannon"


def threshold_for(method: str, settings: DriftSettings, column: str = "") -> float:
    rule = settings.columns.get(column)
    if rule and rule.threshold is not None:
        return rule.threshold
    return DEFAULT_THRESHOLDS[method]


def is_drift(method: str, score: float, threshold: float) -> bool:
    if method == "ks":
        return score <= threshold  # Evidently's KS is the one p-value test with <=
    if method in P_VALUE_METHODS:
        return score < threshold
    return score >= threshold


def severity(method: str, score: float, threshold: float) -> float:
    """Score relative to its threshold on one scale: >= 1 means drift (p-values on a log scale)."""
    if method in P_VALUE_METHODS:
        return math.log(max(score, 1e-300)) / math.log(threshold)
    return score / threshold


# --- one column: baseline sketch against current sketch --------------------------------------


@dataclass
class ColumnDrift:
    column: str
    role: str  # feature, prediction or label
    kind: str  # numeric, categorical or boolean
    method: str | None
    score: float | None  # what the threshold judges: a p-value or a distance
    statistic: float | None  # the test statistic (KS D, chi-square, z) or the distance
    p_value: float | None
    threshold: float | None
    drifted: bool  # the value distribution moved
    n_ref: int  # every non-null value posted to the baseline deploy
    n_cur: int
    sample_ref: int  # values the statistic saw (smaller than n when a reservoir sample is used)
    sample_cur: int
    exact: bool  # False when KS/Wasserstein ran on binned sketches or samples, or PSI on regrouped bins
    psi: float | None
    nulls_ref: int
    nulls_cur: int
    null_rate_ref: float | None
    null_rate_cur: float | None
    null_p_value: float | None
    null_drifted: bool
    expected: bool = False  # named in the deploy's expected_drift: reported, never pages
    verdict: str = "stable"  # drifted, expected, stable or insufficient_data
    severity: float = 0.0
    cause: str | None = None  # "model_change" for prediction drift with stable inputs
    bins: list[dict] = field(default_factory=list)  # what PSI / the categorical tests compared
    histogram: dict | None = None  # equal-width display histogram (numeric), from the samples
    # Largest possible |statistic - exact statistic on every posted value| for KS and Wasserstein/std
    # (0 when exact; None when only samples were available, in sketches stored before bin sums).
    error_bound: float | None = None


@dataclass
class Comparable:
    """Both sides of one column in the form the chosen method needs."""

    labels: list[str]  # bin or category labels
    ref_counts: np.ndarray
    cur_counts: np.ndarray
    exact: bool
    edges: np.ndarray | None = None  # inner edges when the labels are numeric bins


def compare_column(
    ref: Sketch,
    cur: Sketch,
    *,
    column: str,
    kind: str,
    role: str = "feature",
    settings: DriftSettings | None = None,
    expected: bool = False,
) -> ColumnDrift:
    """Judge one column's drift from the baseline's sketch (`ref`) to the current deploy's (`cur`)."""
    settings = settings or DriftSettings()
    result = _empty_result(ref, cur, column=column, kind=kind, role=role, expected=expected)
    _judge_nulls(result, ref, cur, settings)
    if min(ref.n, cur.n) >= settings.min_n:
        _judge_values(result, ref, cur, settings)
    result.verdict = _verdict(result)
    return result


def _empty_result(ref: Sketch, cur: Sketch, *, column: str, kind: str, role: str, expected: bool) -> ColumnDrift:
    return ColumnDrift(
        column=column,
        role=role,
        kind=kind,
        method=None,
        score=None,
        statistic=None,
        p_value=None,
        threshold=None,
        drifted=False,
        n_ref=ref.n,
        n_cur=cur.n,
        sample_ref=ref.n,
        sample_cur=cur.n,
        exact=True,
        psi=None,
        nulls_ref=ref.nulls,
        nulls_cur=cur.nulls,
        null_rate_ref=_rate(ref.nulls, ref.n + ref.nulls),
        null_rate_cur=_rate(cur.nulls, cur.n + cur.nulls),
        null_p_value=None,
        null_drifted=False,
        expected=expected,
    )


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _judge_nulls(result: ColumnDrift, ref: Sketch, cur: Sketch, settings: DriftSettings) -> None:
    ref_total, cur_total = ref.n + ref.nulls, cur.n + cur.nulls
    if min(ref_total, cur_total) < settings.min_n:
        return
    _, p_value = z_test(ref.nulls, ref_total, cur.nulls, cur_total)
    change = abs(ref.nulls / ref_total - cur.nulls / cur_total)
    result.null_p_value = p_value
    # At large n a tiny change is significant; it must also matter in size.
    result.null_drifted = p_value < settings.null_p_value and change >= settings.null_min_change


def _judge_values(result: ColumnDrift, ref: Sketch, cur: Sketch, settings: DriftSettings) -> None:
    n_values = _distinct_values(ref, cur)
    method = choose_method(result.kind, ref.n, n_values, settings, result.column)
    if method not in METHODS:
        raise ValueError(f"unknown drift method {method!r}")
    result.method = method
    result.threshold = threshold_for(method, settings, result.column)
    continuous = isinstance(ref, NumericSketch) and n_values > LOW_CARDINALITY
    if method in ("ks", "wasserstein") or (continuous and method == "psi"):
        _judge_numeric(result, ref, cur)
    else:
        _judge_counts(result, _comparable(ref, cur, continuous))
    result.drifted = is_drift(method, result.score, result.threshold)
    result.severity = severity(method, result.score, result.threshold)
    if continuous:
        _numeric_psi(result, ref, cur)
        result.histogram = display_histogram(ref.reservoir, cur.reservoir)


def _distinct_values(ref: Sketch, cur: Sketch) -> int:
    """Distinct non-null values on both sides together (large when numeric and not tracked)."""
    if isinstance(ref, CategoricalSketch) and isinstance(cur, CategoricalSketch):
        extra = 1 if ref.other or cur.other else 0
        return len(set(ref.counts) | set(cur.counts)) + extra
    if isinstance(ref, NumericSketch) and isinstance(cur, NumericSketch):
        if ref.distinct is None or cur.distinct is None:
            return 1 << 30
        return len(set(ref.distinct) | set(cur.distinct))
    raise TypeError("both sides of a column must have the same kind")


def _judge_numeric(result: ColumnDrift, ref: NumericSketch, cur: NumericSketch) -> None:
    result.exact = ref.complete and cur.complete
    binned = None if result.exact or result.method == "psi" else _binned_sides(ref, cur)
    if result.method == "psi":  # chosen as the verdict method for a continuous column
        _numeric_psi(result, ref, cur)
        result.score = result.statistic = result.psi
    elif binned is not None:
        _judge_binned(result, *binned, ref_std=ref.std)
    else:
        # Both reservoirs hold every value (exact), or a sketch stored before bin sums: the samples.
        result.sample_ref, result.sample_cur = len(ref.reservoir), len(cur.reservoir)
        if result.method == "ks":
            result.statistic, result.p_value = ks_test(ref.reservoir, cur.reservoir)
            result.score = result.p_value
        else:
            result.score = result.statistic = wasserstein_norm(ref.reservoir, cur.reservoir)
        result.error_bound = 0.0 if result.exact else None


def _judge_binned(
    result: ColumnDrift, ref: BinnedSide, cur: BinnedSide, edges: np.ndarray, *, ref_std: float | None
) -> None:
    """KS or Wasserstein from exact per-bin counts and sums: every value counted, error bounded."""
    if result.method == "ks":
        result.statistic, result.error_bound = binned_ks(ref, cur)
        result.p_value = ks_p_value(result.statistic, ref.n, cur.n)
        result.score = result.p_value
    else:
        distance_, bound = binned_wasserstein(ref, cur, edges)
        std = max(ref_std if ref_std is not None else 0.0, STD_FLOOR)
        result.score = result.statistic = distance_ / std
        result.error_bound = bound / std


def _binned_sides(ref: NumericSketch, cur: NumericSketch) -> tuple[BinnedSide, BinnedSide, np.ndarray] | None:
    """Both sides on their shared frozen edges with sums and range, or None (a sketch stored without them)."""
    edges = _shared_edges(ref, cur)
    if edges is None or ref.std is None:
        return None
    sides = []
    for sketch in (ref, cur):
        if sketch.complete:
            counts, sums = bin_counts_and_sums(sketch.reservoir, edges)
            lo, hi = float(sketch.reservoir.min()), float(sketch.reservoir.max())
        else:
            counts, sums, lo, hi = binned_counts(sketch, edges), binned_sums(sketch, edges), sketch.lo, sketch.hi
        if sums is None or lo is None or hi is None:
            return None
        sides.append(BinnedSide(counts=counts, sums=sums, lo=lo, hi=hi))
    return sides[0], sides[1], edges


def _judge_counts(result: ColumnDrift, both: Comparable) -> None:
    method = result.method
    ref_counts, cur_counts = both.ref_counts, both.cur_counts
    result.exact = result.exact and both.exact
    if method == "chisquare":
        result.statistic, result.p_value = chisquare_two_sample(ref_counts, cur_counts)
    elif method == "chisquare_gof":
        result.statistic, result.p_value = chisquare_gof(ref_counts, cur_counts)
    elif method == "z":
        # Evidently's z-test: share of the first (sorted) level on each side.
        first = int(np.argmin(both.labels)) if both.labels else 0
        result.statistic, result.p_value = z_test(
            int(ref_counts[first]),
            int(ref_counts.sum()),
            int(cur_counts[first]),
            int(cur_counts.sum()),
        )
    elif method == "jensenshannon":
        result.statistic = jensen_shannon(ref_counts, cur_counts)
    else:
        result.statistic = psi(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum())
    result.score = result.p_value if method in P_VALUE_METHODS else result.statistic
    result.psi = psi(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum())
    result.bins = [
        {"label": label, "ref": int(r), "cur": int(c)}
        for label, r, c in zip(both.labels, ref_counts, cur_counts, strict=True)
    ]


def _comparable(ref: Sketch, cur: Sketch, continuous: bool) -> Comparable:
    if isinstance(ref, CategoricalSketch) and isinstance(cur, CategoricalSketch):
        return align_categories(ref, cur)
    if not continuous:
        keys = sorted(set(ref.distinct) | set(cur.distinct))
        return Comparable(
            labels=[_format_number(k) for k in keys],
            ref_counts=np.array([ref.distinct.get(k, 0) for k in keys]),
            cur_counts=np.array([cur.distinct.get(k, 0) for k in keys]),
            exact=True,
        )
    return _coarse_bins(_fine_bins(ref, cur))


def _coarse_bins(fine: Comparable) -> Comparable:
    """Fine frozen bins regrouped into ~COUNT_BINS reference-quantile bins for the count tests (chi-square,
    Jensen-Shannon) on a continuous column: thousands of thin bins would make those tests measure noise."""
    if fine.edges is None or len(fine.edges) < COUNT_BINS:
        return fine
    cuts = group_into_deciles(fine.edges, fine.ref_counts, groups=COUNT_BINS)
    edges = fine.edges[cuts]
    ref_counts, cur_counts = regroup(fine.ref_counts, cuts), regroup(fine.cur_counts, cuts)
    return Comparable(_edge_labels(edges), ref_counts, cur_counts, exact=fine.exact, edges=edges)


def align_categories(ref: CategoricalSketch, cur: CategoricalSketch) -> Comparable:
    """Counts on the categories both sketches know exactly; everything else lumped into "other".

    A category is compared on its own only when each side either counted it explicitly or has no
    "other" values at all (so its count there is truly zero); otherwise it is lumped on both sides.
    """
    union = sorted(set(ref.counts) | set(cur.counts), key=lambda c: (-ref.counts.get(c, 0), c))
    labels = [c for c in union if (c in ref.counts or ref.other == 0) and (c in cur.counts or cur.other == 0)]
    ref_counts = [ref.counts.get(c, 0) for c in labels]
    cur_counts = [cur.counts.get(c, 0) for c in labels]
    lumped_ref, lumped_cur = ref.n - sum(ref_counts), cur.n - sum(cur_counts)
    if lumped_ref or lumped_cur:
        labels.append(OTHER)
        ref_counts.append(lumped_ref)
        cur_counts.append(lumped_cur)
    return Comparable(
        labels,
        np.array(ref_counts),
        np.array(cur_counts),
        exact=not (ref.other or cur.other),
    )


def _shared_edges(ref: NumericSketch, cur: NumericSketch) -> np.ndarray | None:
    for sketch, other in ((ref, cur), (cur, ref)):
        if sketch.edges is not None and (other.complete or np.array_equal(other.edges, sketch.edges)):
            return sketch.edges
    return None


def _fine_bins(ref: NumericSketch, cur: NumericSketch) -> Comparable:
    """Both sides' exact counts on the frozen edges (or on the reference sample's deciles)."""
    edges = _shared_edges(ref, cur)
    if edges is not None:
        ref_counts, cur_counts = binned_counts(ref, edges), binned_counts(cur, edges)
        return Comparable(_edge_labels(edges), ref_counts, cur_counts, exact=True, edges=edges)
    edges = decile_edges(ref.reservoir)
    if ref.complete and cur.complete:
        ref_counts, cur_counts = (
            bin_counts(ref.reservoir, edges),
            bin_counts(cur.reservoir, edges),
        )
        return Comparable(_edge_labels(edges), ref_counts, cur_counts, exact=True, edges=edges)
    # Only reached if two sketches were binned on different edges: estimate from the samples.
    ref_counts, cur_counts = (np.rint(bin_counts(s.reservoir, edges) * s.n / len(s.reservoir)) for s in (ref, cur))
    return Comparable(_edge_labels(edges), ref_counts, cur_counts, exact=False, edges=edges)


def _numeric_psi(result: ColumnDrift, ref: NumericSketch, cur: NumericSketch) -> None:
    """PSI on reference deciles: exact from complete reservoirs, else on regrouped frozen bins."""
    if result.psi is not None:
        return
    if ref.complete and cur.complete:
        result.psi, edges, ref_counts, cur_counts = psi_on_deciles(ref.reservoir, cur.reservoir)
    else:
        fine = _fine_bins(ref, cur)
        cuts = group_into_deciles(fine.edges, fine.ref_counts)
        ref_counts, cur_counts = (
            regroup(fine.ref_counts, cuts),
            regroup(fine.cur_counts, cuts),
        )
        edges = fine.edges[cuts]
        result.psi = psi(ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum())
        result.exact = False
    result.bins = _numeric_bins(edges, ref_counts, cur_counts)


def _numeric_bins(edges: np.ndarray, ref_counts: np.ndarray, cur_counts: np.ndarray) -> list[dict]:
    lows = [None, *map(float, edges)]
    highs = [*map(float, edges), None]
    return [
        {"label": label, "lo": lo, "hi": hi, "ref": int(r), "cur": int(c)}
        for label, lo, hi, r, c in zip(_edge_labels(edges), lows, highs, ref_counts, cur_counts, strict=True)
    ]


def _edge_labels(edges: np.ndarray) -> list[str]:
    points = [_format_number(e) for e in edges]
    if not points:
        return ["all"]
    inner = [f"[{a}, {b})" for a, b in itertools.pairwise(points)]
    return [f"< {points[0]}", *inner, f">= {points[-1]}"]


def _format_number(value: float) -> str:
    return f"{value:.4g}"


def display_histogram(ref: np.ndarray, cur: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict:
    """Equal-width histogram of both samples over their pooled 0.5-99.5 % range, as proportions."""
    pooled = np.concatenate([ref, cur])
    lo, hi = np.quantile(pooled, [0.005, 0.995])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    ref_hist = np.histogram(np.clip(ref, lo, hi), edges)[0] / max(len(ref), 1)
    cur_hist = np.histogram(np.clip(cur, lo, hi), edges)[0] / max(len(cur), 1)
    return {"edges": edges.tolist(), "ref": ref_hist.tolist(), "cur": cur_hist.tolist()}


def _verdict(result: ColumnDrift) -> str:
    if result.method is None and not result.null_drifted:
        return "insufficient_data"
    if result.null_drifted and result.null_p_value is not None:
        result.severity = max(result.severity, severity("z", result.null_p_value, 0.001))
    if not (result.drifted or result.null_drifted):
        return "stable"
    return "expected" if result.expected else "drifted"


# --- the whole deploy --------------------------------------------------------------------------


@dataclass
class ColumnInput:
    column: str
    kind: str
    ref: Sketch
    cur: Sketch
    role: str = "feature"


@dataclass
class DriftReport:
    columns: list[ColumnDrift]
    n_columns: int  # columns with enough data on both sides to judge
    n_drifted: int  # drifted columns that were not expected (these page)
    n_expected: int  # drifted columns the deploy said would drift
    drift_share: float
    drift_share_threshold: float
    dataset_drift: bool
    prediction_drift_cause: str | None  # "model_change" (stable inputs) or "input_drift"

    def as_dict(self) -> dict:
        # Shallow field copies: the bins and histograms are already plain lists and dicts.
        body = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "columns"}
        body["columns"] = [{f.name: getattr(c, f.name) for f in fields(c)} for c in self.columns]
        return _finite(body)


def drift_report(
    columns: Sequence[ColumnInput],
    *,
    settings: DriftSettings | None = None,
    expected_drift: Sequence[str] = (),
) -> DriftReport:
    """Judge every column, then the deploy: drift share and the cause of any prediction drift."""
    settings = settings or DriftSettings()
    expected = set(expected_drift)
    results = [
        compare_column(
            c.ref,
            c.cur,
            column=c.column,
            kind=c.kind,
            role=c.role,
            settings=settings,
            expected=c.column in expected,
        )
        for c in columns
    ]
    judged = [r for r in results if r.verdict != "insufficient_data"]
    n_drifted = sum(r.verdict == "drifted" for r in judged)
    share = n_drifted / len(judged) if judged else 0.0
    cause = _prediction_cause(results)
    results.sort(key=lambda r: (_VERDICT_ORDER[r.verdict], -r.severity, r.column))
    return DriftReport(
        columns=results,
        n_columns=len(judged),
        n_drifted=n_drifted,
        n_expected=sum(r.verdict == "expected" for r in judged),
        drift_share=share,
        drift_share_threshold=settings.drift_share,
        dataset_drift=bool(judged) and share >= settings.drift_share,
        prediction_drift_cause=cause,
    )


_VERDICT_ORDER = {"drifted": 0, "expected": 1, "stable": 2, "insufficient_data": 3}


def _prediction_cause(results: list[ColumnDrift]) -> str | None:
    """Prediction drift with every judged input stable can only come from the model itself."""
    predictions = [r for r in results if r.role == "prediction" and r.verdict in ("drifted", "expected")]
    if not predictions:
        return None
    inputs = [r for r in results if r.role == "feature" and r.verdict != "insufficient_data"]
    if any(r.verdict in ("drifted", "expected") for r in inputs):
        return "input_drift"
    for r in predictions:
        r.cause = "model_change"
    return "model_change"


def _finite(value):
    """Report dicts go to JSON: non-finite floats become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, np.generic):
        return _finite(value.item())
    return value
