"""metrics.stats.shadow on its own: the coordinated sample and the paired tests against SciPy and hand counts."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from scipy import stats

from metrics.stats import shadow


def pairs(challenger, champion, labels=None) -> shadow.Pairs:
    challenger, champion = np.asarray(challenger, float), np.asarray(champion, float)
    labels = np.full(len(champion), np.nan) if labels is None else np.asarray(labels, float)
    return shadow.Pairs(challenger, champion, labels)


def test_a_request_hash_is_the_first_63_bits_of_its_blake2b_digest():
    digest = hashlib.blake2b(b"req-42", digest_size=8).digest()
    assert shadow.request_hash("req-42") == int.from_bytes(digest, "big") >> 1
    assert 0 <= shadow.request_hash("") < 2**63


def test_two_deploys_keep_the_same_requests_below_the_lower_cut_whatever_else_they_saw():
    common = [f"r{i}" for i in range(5000)]
    champion = shadow.bottom_k(shadow.request_hashes(common + [f"only-champion-{i}" for i in range(20000)]), 500)
    challenger = shadow.bottom_k(shadow.request_hashes(common[::-1]), 500)
    cut = min(shadow.cut_of(champion, 500), shadow.cut_of(challenger, 500))
    paired = np.intersect1d(champion[champion <= cut], challenger[challenger <= cut])
    hashes = shadow.request_hashes(common)
    assert set(paired.tolist()) == set(hashes[hashes <= cut].tolist())  # every common request below the cut
    assert len(paired) > 0


def test_a_deploy_that_saw_fewer_requests_than_the_bound_keeps_them_all():
    kept = shadow.bottom_k(shadow.request_hashes(["a", "b", "a"]), 10)
    assert len(kept) == 2 and shadow.cut_of(kept, 10) == shadow.NO_CUT


def test_the_sampled_agreement_is_close_to_the_full_datas():
    gen = np.random.default_rng(11)
    ids = [f"q{i}" for i in range(100_000)]
    champion = gen.random(100_000)
    challenger = np.clip(champion + gen.normal(0, 0.2, 100_000), 0, 1)
    full = np.mean((challenger >= 0.5) == (champion >= 0.5))
    hashes = shadow.request_hashes(ids)
    kept = hashes <= shadow.cut_of(shadow.bottom_k(hashes, 4000), 4000)
    sampled = shadow.agreement(pairs(challenger[kept], champion[kept]), shadow.CLASSIFICATION, 0.5)["share"]
    assert kept.sum() == 4000
    assert abs(sampled - full) < 3 * np.sqrt(full * (1 - full) / 4000)


def test_fewer_than_30_pairs_is_insufficient_data():
    result = shadow.compare(pairs([0.1] * 29, [0.2] * 29), threshold=0.5)
    assert result["verdict"] == "insufficient_data" and result["shift"] is None


def test_identical_predictions_have_no_shift_and_full_agreement():
    result = shadow.compare(pairs([0.3, 0.7] * 20, [0.3, 0.7] * 20), threshold=0.5)
    assert result["shift"]["statistic"] == 0.0 and result["shift"]["p"] == 1.0
    assert result["agreement"]["share"] == 1.0 and result["agreement"]["mean_abs_diff"] == 0.0
    assert result["verdict"] == "insufficient_data"  # no labels: no verdict on quality


def test_a_score_at_the_threshold_is_positive():
    result = shadow.agreement(pairs([0.6] * 40, [0.6] * 20 + [0.59] * 20), shadow.CLASSIFICATION, 0.6)
    assert result["share"] == 0.5


def test_mcnemar_counts_discordant_pairs_by_hand_and_takes_scipys_exact_p():
    # 40 labelled requests, all positive: the champion misses 12 the challenger gets, the challenger misses 2.
    champion = [0.9] * 26 + [0.1] * 12 + [0.9] * 2
    challenger = [0.9] * 26 + [0.9] * 12 + [0.1] * 2
    result = shadow.compare(pairs(challenger, champion, [1] * 40), threshold=0.5)
    assert (result["quality"]["b"], result["quality"]["c"]) == (2, 12)
    assert result["quality"]["p"] == pytest.approx(stats.binomtest(2, 14, 0.5).pvalue, abs=1e-12)
    assert result["verdict"] == "better"
    assert result["quality"]["challenger_accuracy"] == 38 / 40 and result["quality"]["champion_accuracy"] == 28 / 40


def test_no_discordant_pair_is_the_same_quality():
    result = shadow.compare(pairs([0.9] * 40, [0.8] * 40, [1] * 40), threshold=0.5)
    assert result["quality"]["p"] == 1.0 and result["verdict"] == "same"


def test_without_labels_scores_in_0_1_are_classification_and_others_regression():
    assert shadow.task_of(pairs([0.2, 1.0], [0.0, 0.4])) == shadow.CLASSIFICATION
    assert shadow.task_of(pairs([0.2, 1.5], [0.0, 0.4])) == shadow.REGRESSION
    assert shadow.task_of(pairs([0.2, 0.5], [0.1, 0.4], [0.3, np.nan])) == shadow.REGRESSION
