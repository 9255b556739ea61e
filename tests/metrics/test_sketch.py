"""Bounded, mergeable column sketches: exact counts, uniform reservoirs, a fixed size ceiling."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from metrics.stats import sketch as sk
from tests.metrics.legacy_sketch import assert_same, legacy_to_bytes, same_sample, wide_dts2_to_bytes


def gen(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def stream(values: np.ndarray, batch: int, *, edges=None, capacity=sk.RESERVOIR_CAPACITY, seed=0):
    rng = gen(seed)
    result = sk.empty_sketch("numeric")
    for start in range(0, len(values), batch):
        part = sk.numeric_sketch(values[start : start + batch], rng=rng, edges=edges, capacity=capacity)
        result = sk.merge(result, part, edges=edges, rng=rng, capacity=capacity)
    return result


def test_it_keeps_every_value_until_the_reservoir_is_full():
    values = np.random.default_rng(1).normal(size=3000)
    sketch = stream(values, 500)
    assert sketch.complete and sketch.edges is None and sketch.counts is None
    assert np.array_equal(np.sort(sketch.reservoir), np.sort(values))


def test_it_freezes_edges_from_every_value_when_the_reservoir_first_overflows():
    values = np.random.default_rng(2).normal(size=1500)
    sketch = stream(values, 500, capacity=1000)
    # the overflow happened when 1,000 complete values met the third batch: edges from all 1,500
    assert np.array_equal(sketch.edges, sk.freeze_edges(values))
    quantiles = np.quantile(values, np.arange(1, sk.FINE_BINS) / sk.FINE_BINS)
    assert np.isin(quantiles, sketch.edges).all() and len(sketch.edges) <= sk.MAX_EDGES


def test_it_counts_every_value_exactly_on_the_frozen_edges_after_a_million_rows():
    values = np.random.default_rng(3).lognormal(0, 1, 1_000_000)
    edges = sk.freeze_edges(values[:10_000])
    sketch = stream(values, 10_000, edges=edges)
    reference = np.histogram(values, np.r_[-np.inf, edges, np.inf])[0]  # [a, b) bins; last one closed
    assert sketch.n == 1_000_000
    assert np.array_equal(sketch.counts, reference)
    assert len(sketch.reservoir) == sk.OVERFLOW_SAMPLE  # statistics come from the bins now


def test_it_keeps_the_serialised_size_under_its_ceiling_whatever_the_traffic():
    rng = np.random.default_rng(4)
    edges = sk.freeze_edges(rng.normal(size=10_000))
    sketch, sizes = sk.empty_sketch("numeric"), []
    for _ in range(100):  # 1,000,000 rows in 10,000-row batches
        part = sk.numeric_sketch(rng.normal(size=10_000), nulls=3, rng=rng, edges=edges)
        sketch = sk.merge(sketch, part, edges=edges, rng=rng)
        sizes.append(len(sk.to_bytes(sketch)))
    assert max(sizes) <= sk.max_size_bytes("numeric")
    # full from the second batch on: only the digits of the counts in the header can still grow
    assert sizes[-1] - sizes[1] <= 8
    assert sketch.n == 1_000_000 and sketch.nulls == 300


def test_it_keeps_categorical_sketches_under_their_ceiling_with_endless_new_categories():
    sketch = sk.empty_sketch("categorical")
    for start in range(0, 100_000, 1000):
        names = ["x" * 190 + str(i) for i in range(start, start + 1000)]
        sketch = sk.merge(sketch, sk.categorical_sketch(names), rng=gen())
    assert len(sketch.counts) == sk.MAX_CATEGORIES
    assert sketch.other == 100_000 - sk.MAX_CATEGORIES and sketch.n == 100_000
    assert len(sk.to_bytes(sketch)) <= sk.max_size_bytes("categorical")


def test_it_gives_each_value_the_same_chance_of_staying_in_a_merged_reservoir():
    values = np.arange(3000.0)
    kept = np.zeros(3000)
    for seed in range(300):
        # an uneven stream: one big batch, then small ones
        rng = gen(seed)
        sketch = sk.numeric_sketch(values[:2000], rng=rng, capacity=500)
        for start in range(2000, 3000, 100):
            part = sk.numeric_sketch(values[start : start + 100], rng=rng, capacity=500, edges=sketch.edges)
            sketch = sk.merge(sketch, part, edges=sketch.edges, rng=rng, capacity=500)
        kept[sketch.reservoir.astype(int)] += 1
    # each value is kept with probability 500/3000; 30 blocks of 100 values each expect 5,000 hits
    blocks = kept.reshape(30, 100).sum(axis=1)
    assert stats.chisquare(blocks).pvalue > 0.001
    assert blocks.sum() == 300 * 500


def test_it_merges_concurrent_batches_into_the_same_counts_in_any_order():
    rng = np.random.default_rng(5)
    batches = [rng.exponential(size=4000) for _ in range(6)]
    edges = sk.freeze_edges(batches[0])
    parts = [sk.numeric_sketch(b, rng=gen(i), edges=edges, capacity=1000) for i, b in enumerate(batches)]
    forward, backward = sk.empty_sketch("numeric"), sk.empty_sketch("numeric")
    for part in parts:
        forward = sk.merge(forward, part, edges=edges, rng=gen(), capacity=1000)
    for part in reversed(parts):
        backward = sk.merge(part, backward, edges=edges, rng=gen(), capacity=1000)
    assert forward.n == backward.n == 24_000
    assert np.array_equal(forward.counts, backward.counts)
    assert np.array_equal(forward.counts, sk.bin_counts(np.concatenate(batches), edges))


def test_it_round_trips_through_bytes():
    rng = np.random.default_rng(6)
    edges = sk.freeze_edges(rng.normal(size=5000))
    numeric = sk.numeric_sketch(rng.normal(size=20_000), nulls=7, rng=rng, edges=edges)
    back = sk.from_bytes(sk.to_bytes(numeric))
    assert (back.n, back.nulls, back.distinct) == (20_000, 7, None)
    # overflowed: the display sample is stored as float32 offsets from its minimum (2**-24 of its range)
    assert same_sample(back.reservoir, numeric.reservoir) and not np.array_equal(back.reservoir, numeric.reservoir)
    assert np.array_equal(back.edges, edges) and np.array_equal(back.counts, numeric.counts)
    assert np.array_equal(back.sums, numeric.sums)
    complete = sk.numeric_sketch(rng.normal(size=300), rng=rng)  # every value, which statistics read: exact
    assert np.array_equal(sk.from_bytes(sk.to_bytes(complete)).reservoir, complete.reservoir)
    few = sk.from_bytes(sk.to_bytes(sk.numeric_sketch(np.array([0.0, 1.0, 1.0]), rng=rng)))
    assert few.distinct == {0.0: 1, 1.0: 2} and few.edges is None
    categorical = sk.categorical_sketch(["a", "b", "b", "é"], nulls=2)
    assert sk.from_bytes(sk.to_bytes(categorical)) == categorical


def test_it_counts_distinct_numeric_values_only_while_there_are_few():
    rng = gen()
    few = sk.merge(
        sk.numeric_sketch(np.array([0.0, 1.0]), rng=rng), sk.numeric_sketch(np.array([1.0]), rng=rng), rng=rng
    )
    assert few.distinct == {0.0: 1, 1.0: 2}
    many = sk.merge(few, sk.numeric_sketch(np.arange(20.0), rng=rng), rng=rng)
    assert many.distinct is None


def test_it_refuses_to_merge_sketches_binned_on_different_edges():
    rng = gen()
    a = sk.numeric_sketch(np.arange(100.0), rng=rng, capacity=10, edges=np.array([10.0, 50.0]))
    b = sk.numeric_sketch(np.arange(100.0), rng=rng, capacity=10, edges=np.array([20.0]))
    with pytest.raises(ValueError, match="different edges"):
        sk.merge(a, b, rng=rng, capacity=10)


def test_it_refuses_to_merge_a_numeric_sketch_with_a_categorical_one():
    with pytest.raises(TypeError):
        sk.merge(sk.numeric_sketch(np.arange(3.0), rng=gen()), sk.categorical_sketch(["a"]), rng=gen())


def test_it_gives_the_most_frequent_categories_of_a_batch_the_explicit_slots():
    names = [f"c{i:03d}" for i in range(300)] + ["popular"] * 50
    sketch = sk.categorical_sketch(names)
    assert "popular" in sketch.counts and sketch.counts["popular"] == 50
    assert sketch.other == 300 - (sk.MAX_CATEGORIES - 1)


def test_it_bins_each_value_by_the_edges_at_or_below_it_ties_and_extremes_included():
    rng = np.random.default_rng(7)
    edges = sk.freeze_edges(rng.normal(0, 1, 50_000))
    values = np.concatenate(
        [rng.normal(0, 2, 9_000), edges[::7], np.nextafter(edges[::11], -np.inf), [-np.inf, np.inf, -1e300, 1e300]]
    )
    rng.shuffle(values)
    bins = [int(np.sum(edges <= value)) for value in values]  # the definition: bin k is [e_(k-1), e_k)
    expected = np.bincount(bins, minlength=len(edges) + 1)
    expected_sums = np.zeros(len(edges) + 1)
    finite = np.isfinite(values)
    np.add.at(expected_sums, np.array(bins)[finite], values[finite])
    counts, sums = sk.bin_counts_and_sums(values[finite], edges)
    assert np.array_equal(sk.bin_counts(values, edges), expected)
    assert np.array_equal(counts, np.bincount(np.array(bins)[finite], minlength=len(edges) + 1))
    assert np.allclose(sums, expected_sums, rtol=1e-12, atol=1e-9)
    assert np.array_equal(sk.bin_counts(np.empty(0), edges), np.zeros(len(edges) + 1, dtype=np.int64))


def test_it_gives_tied_categories_their_slots_in_the_categories_order_and_counts_the_rest_as_other():
    values = [f"c{i:03d}" for i in range(sk.MAX_CATEGORIES + 10) for _ in range(2)] + ["z"] * 5 + ["a"] * 5
    values = list(np.random.default_rng(1).permutation(np.array(values)))  # NumPy strings, shuffled
    sketch = sk.categorical_sketch(values, nulls=4)
    slots = list(sketch.counts)
    assert slots[:2] == ["a", "z"] and slots[2:] == [f"c{i:03d}" for i in range(sk.MAX_CATEGORIES - 2)]
    assert all(type(category) is str for category in slots)
    assert (sketch.n, sketch.nulls, sketch.other) == (len(values), 4, 2 * 12)


# --- the stored layouts ------------------------------------------------------------------------


def overflowed(values: np.ndarray, edges: np.ndarray, seed: int = 0) -> sk.NumericSketch:
    return stream(values, 10_000, edges=edges, seed=seed)


def test_sketches_stored_in_the_first_layout_read_and_merge_as_before():
    rng = gen(7)
    edges = sk.freeze_edges(rng.normal(size=10_000))
    sketches = [
        overflowed(rng.normal(size=50_000), edges),
        sk.numeric_sketch(rng.normal(size=300), nulls=2, rng=rng),  # complete: every value
        sk.numeric_sketch(np.array([0.0, 1.0, 1.0]), rng=rng),  # few distinct values
        sk.empty_sketch("numeric"),
        sk.categorical_sketch(["a", "b", "b", "é"], nulls=2),
    ]
    for sketch in sketches:
        old = sk.from_bytes(legacy_to_bytes(sketch))  # a DTS1 sketch needs no edges: it holds them
        assert_same(old, sketch)
        assert_same(sk.from_bytes(sk.to_bytes(sketch, edges=edges), edges=edges), sketch)
    # merged with a new batch, an old sketch gives what the sketch it was gives (same seed)
    part = sk.numeric_sketch(rng.normal(size=10_000), rng=rng, edges=edges)
    merged_old = sk.merge(sk.from_bytes(legacy_to_bytes(sketches[0])), part, edges=edges, rng=gen(1))
    assert_same(merged_old, sk.merge(sketches[0], part, edges=edges, rng=gen(1)))


def test_a_binned_sketch_refers_to_its_columns_frozen_edges_and_keeps_counts_in_the_narrowest_width():
    rng = gen(8)
    edges = sk.freeze_edges(rng.normal(size=10_000))
    sketch = overflowed(rng.normal(size=1_000_000), edges)
    compact, inline, old = sk.to_bytes(sketch, edges=edges), sk.to_bytes(sketch), legacy_to_bytes(sketch)
    bins, sample = len(edges) + 1, len(sketch.reservoir)
    assert compact[:4] == inline[:4] == b"DTS2" and old[:4] == b"DTS1"
    # a million values: at most 65,535 in a bin, so counts in 2 bytes instead of 8, and the display sample in 4
    # bytes instead of 8 (the header names both, with small differences in its length)
    assert sketch.counts.max() < 2**16
    assert 6 * bins + 4 * sample - 40 <= len(old) - len(inline) <= 6 * bins + 4 * sample
    # no edges: the header names their CRC-32 instead
    assert 8 * len(edges) - 20 <= len(inline) - len(compact) <= 8 * len(edges)
    assert len(compact) <= 0.45 * len(old)
    with pytest.raises(sk.EdgesNeeded):
        sk.from_bytes(compact)  # the reader must be given the column's edges…
    with pytest.raises(sk.EdgesNeeded):
        sk.from_bytes(compact, edges=np.nextafter(edges, np.inf))  # …and exactly those
    assert_same(sk.from_bytes(compact, edges=edges), sketch)
    # counts beyond two bytes are kept in four, beyond four in eight
    sketch.counts = sketch.counts * 2**10
    wider = sk.to_bytes(sketch, edges=edges)
    assert len(compact) + 2 * bins <= len(wider) <= len(compact) + 2 * bins + 8
    assert_same(sk.from_bytes(wider, edges=edges), sketch)
    sketch.counts = sketch.counts * 2**22
    huge = sk.to_bytes(sketch, edges=edges)
    assert len(huge) == len(wider) + 4 * bins and sk.from_bytes(huge, edges=edges).counts.max() > 2**32
    assert_same(sk.from_bytes(huge, edges=edges), sketch)


def test_sketches_stored_with_an_8_byte_sample_and_4_byte_counts_read_as_before():
    rng = gen(10)
    edges = sk.freeze_edges(rng.normal(size=10_000))
    sketch = overflowed(rng.normal(size=50_000), edges)
    stored = wide_dts2_to_bytes(sketch, edges)
    back = sk.from_bytes(stored, edges=edges)
    assert np.array_equal(back.reservoir, sketch.reservoir)  # the 8-byte sample, value for value
    assert_same(back, sketch)
    rewritten = sk.to_bytes(back, edges=edges)  # the next merge writes the narrow layout
    assert len(rewritten) < len(stored) - 4 * len(sketch.reservoir)
    assert_same(sk.from_bytes(rewritten, edges=edges), sketch)


def test_a_column_of_few_values_stores_only_the_bins_that_hold_values():
    rng = gen(9)
    edges = sk.freeze_edges(rng.integers(0, 2, 10_000).astype(float))  # a 0/1 label
    sketch = overflowed(rng.integers(0, 2, 200_000).astype(float), edges)
    assert np.count_nonzero(sketch.counts) == 2
    stored = sk.to_bytes(sketch, edges=edges)
    assert len(stored) < 4 * sk.OVERFLOW_SAMPLE + 400  # the sample (float32) and the header: a few bytes of bins
    assert_same(sk.from_bytes(stored, edges=edges), sketch)
    assert_same(sk.from_bytes(sk.to_bytes(sketch), edges=None), sketch)  # sparse with its edges inline
