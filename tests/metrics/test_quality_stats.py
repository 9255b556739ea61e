"""Realised quality from (prediction, label) pairs, against SciPy and hand-worked cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from metrics.stats import quality
from metrics.stats import sketch as sk
from tests.metrics.legacy_sketch import legacy_pairs_to_bytes


def test_it_computes_the_auc_as_the_mann_whitney_u_over_the_pairs():
    gen = np.random.default_rng(1)
    labels = (gen.random(2000) < 0.3).astype(float)
    scores = np.round(np.clip(gen.normal(0.3 + 0.2 * labels, 0.2), 0, 1), 2)  # rounded: ties too
    u = stats.mannwhitneyu(scores[labels == 1], scores[labels == 0]).statistic
    assert quality.roc_auc(scores, labels) == pytest.approx(u / (labels.sum() * (1 - labels).sum()), rel=1e-12)


def test_it_computes_binary_quality_like_the_hand_worked_example():
    # 4 rows: scores .9 .6 .4 .1 for labels 1 0 1 0 → pairs (pos, neg) ordered right: (.9,.6) (.9,.1) (.4,.1) = 3 of 4
    pairs = np.array([[0.9, 1], [0.6, 0], [0.4, 1], [0.1, 0]] * 10, dtype=float)
    result = quality.realised_quality(pairs, n=40)
    assert result["task"] == "binary" and result["exact"]
    assert result["auc"] == pytest.approx(0.75)
    assert result["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    assert result["accuracy"] == pytest.approx(0.5)  # .9 right, .6 wrong, .4 wrong, .1 right
    assert result["calibration_gap"] == pytest.approx(0.5 - 0.5)


def test_it_computes_regression_errors_for_other_labels():
    pairs = np.array([[3.0, 1.0], [1.0, 2.0], [2.0, 2.0]] * 10)
    result = quality.realised_quality(pairs, n=30)
    assert result["task"] == "regression"
    assert result["mae"] == pytest.approx(1.0) and result["bias"] == pytest.approx(1 / 3)
    assert result["rmse"] == pytest.approx(np.sqrt(5 / 3))


def test_it_needs_thirty_labelled_rows():
    assert quality.realised_quality(np.ones((29, 2)), n=29) is None


def test_it_keeps_a_uniform_bounded_reservoir_of_whole_pairs():
    rng = np.random.default_rng(2)
    predictions, labels = np.arange(30_000.0), np.arange(30_000.0) * 2
    merged = sk.PairSketch()
    for start in range(0, 30_000, 3_000):
        part = sk.pair_sketch(
            predictions[start : start + 3_000], labels[start : start + 3_000], rng=rng, capacity=5_000
        )
        merged = sk.merge_pairs(merged, part, rng=rng, capacity=5_000)
    assert merged.n == 30_000 and merged.reservoir.shape == (5_000, 2)
    assert np.array_equal(merged.reservoir[:, 1], merged.reservoir[:, 0] * 2)  # rows stay whole
    # uniform: each tenth of the stream keeps about a tenth of the sample
    tenths = np.bincount((merged.reservoir[:, 0] // 3_000).astype(int), minlength=10)
    assert stats.chisquare(tenths).pvalue > 0.001
    back = sk.pairs_from_bytes(sk.pairs_to_bytes(merged))
    assert back.n == merged.n and np.array_equal(back.reservoir, merged.reservoir)


def test_a_classifiers_labels_are_stored_as_bits_and_older_pairs_still_read():
    rng = np.random.default_rng(3)
    for labels, largest in ((rng.integers(0, 2, 10_000).astype(float), 8 * 10_000 + 10_000 // 8 + 200),
                            (rng.normal(size=10_000), 16 * 10_000 + 200)):  # fmt: skip
        pairs = sk.pair_sketch(rng.random(10_000), labels, rng=rng)
        stored = sk.pairs_to_bytes(pairs)
        assert len(stored) <= largest
        for data in (stored, legacy_pairs_to_bytes(pairs)):
            back = sk.pairs_from_bytes(data)
            assert back.n == pairs.n and np.array_equal(back.reservoir, pairs.reservoir)
            assert quality.realised_quality(back.reservoir, back.n) == quality.realised_quality(
                pairs.reservoir, pairs.n
            )
    empty = sk.pairs_from_bytes(sk.pairs_to_bytes(sk.PairSketch()))
    assert empty.n == 0 and empty.reservoir.shape == (0, 2)
