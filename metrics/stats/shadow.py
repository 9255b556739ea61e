"""Shadow and A/B pairing (no Django imports): which requests a deploy keeps, and the paired comparison of a
challenger with its champion on the requests both scored.

Which requests are kept. Every request id maps to a stable 63-bit hash (BLAKE2b), the same in every process
and for every deploy. A deploy keeps the requests with the SAMPLE_SIZE smallest hashes it has seen (a bottom-k
sample): storage never exceeds SAMPLE_SIZE rows per deploy, whatever the traffic, and the sampling rate adapts by
itself (its cut, the largest kept hash, falls as traffic grows). Whether a request is kept depends only on its
id, so a request kept by the challenger is kept by the champion too, unless one side's cut is lower; the
pairs are read below the lower of the two cuts, where both sides kept every request they saw. The hash is
independent of the predictions and labels, so the pairs are a uniform random sample of all paired requests
(coordinated bottom-k sampling, as in MinHash estimates of set overlap): every statistic below is computed
on an unbiased sample, and exactly on all pairs while neither side has seen more than SAMPLE_SIZE requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import blake2b

import numpy as np
from scipy import stats

SAMPLE_SIZE = 20_000  # requests kept per deploy: the storage bound
NO_CUT = 2**63 - 1  # the cut of a deploy that kept every request it saw
MIN_PAIRS = 30  # fewer pairs (or labelled pairs) than this: insufficient_data
ALPHA = 0.05  # the verdict's level: 95 %
BETTER, WORSE, SAME, INSUFFICIENT = "better", "worse", "same", "insufficient_data"
CLASSIFICATION, REGRESSION = "classification", "regression"


def request_hash(request_id: str) -> int:
    """The request's place in the sampling order: 63 bits, so it fits a signed 64-bit column."""
    digest = blake2b(request_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def request_hashes(request_ids: Sequence[str]) -> np.ndarray:
    return np.fromiter(map(request_hash, request_ids), dtype=np.int64, count=len(request_ids))


def bottom_k(hashes: np.ndarray, k: int = SAMPLE_SIZE) -> np.ndarray:
    """The k smallest distinct hashes, sorted: what a deploy keeps of the requests it saw."""
    distinct = np.unique(hashes)
    return distinct[:k]


def cut_of(kept: np.ndarray, k: int = SAMPLE_SIZE) -> int:
    """The largest hash a deploy still keeps, or NO_CUT while it has kept every request (fewer than k)."""
    return int(kept.max()) if len(kept) >= k else NO_CUT


@dataclass(frozen=True)
class Pairs:
    """Paired requests: the challenger's and the champion's prediction, and the label (NaN where none)."""

    challenger: np.ndarray
    champion: np.ndarray
    labels: np.ndarray


def task_of(pairs: Pairs) -> str:
    """Classification when the labels are 0/1 (as realised quality decides), or, without labels, when every
    prediction is a score in [0, 1]; regression otherwise."""
    labels = pairs.labels[~np.isnan(pairs.labels)]
    if len(labels):
        return CLASSIFICATION if np.isin(labels, (0.0, 1.0)).all() else REGRESSION
    both = np.concatenate([pairs.challenger, pairs.champion])
    return CLASSIFICATION if ((both >= 0) & (both <= 1)).all() else REGRESSION


def compare(pairs: Pairs, *, threshold: float) -> dict:
    """n_pairs, task, agreement, shift, quality and verdict of a challenger against its champion."""
    n = len(pairs.challenger)
    out: dict = {"n_pairs": n, "task": None, "agreement": None, "shift": None, "quality": None}
    if n < MIN_PAIRS:
        return {**out, "verdict": INSUFFICIENT, "reason": f"{n} paired requests, fewer than {MIN_PAIRS}"}
    task = task_of(pairs)
    out.update(task=task, agreement=agreement(pairs, task, threshold), shift=shift(pairs))
    labelled = ~np.isnan(pairs.labels)
    n_labelled = int(labelled.sum())
    if n_labelled < MIN_PAIRS:
        reason = f"{n_labelled} paired requests have a label, fewer than {MIN_PAIRS}"
        return {**out, "verdict": INSUFFICIENT, "reason": reason}
    sub = Pairs(pairs.challenger[labelled], pairs.champion[labelled], pairs.labels[labelled])
    out["quality"] = mcnemar(sub, threshold) if task == CLASSIFICATION else error_test(sub)
    return {**out, "verdict": out["quality"]["verdict"], "reason": out["quality"]["reason"]}


def agreement(pairs: Pairs, task: str, threshold: float) -> dict:
    """Classification: the share of requests both put in the same class (a score >= threshold is positive).
    Both tasks: the mean absolute difference, also divided by the champion's standard deviation (ddof 1)."""
    mean_abs_diff = float(np.mean(np.abs(pairs.challenger - pairs.champion)))
    std = float(np.std(pairs.champion, ddof=1))
    share = None
    if task == CLASSIFICATION:
        share = float(np.mean((pairs.challenger >= threshold) == (pairs.champion >= threshold)))
    return {
        "share": share,
        "threshold": threshold if task == CLASSIFICATION else None,
        "mean_abs_diff": mean_abs_diff,
        "mean_abs_diff_over_champion_std": mean_abs_diff / std if std > 0 else None,
    }


def shift(pairs: Pairs) -> dict:
    """Wilcoxon signed-rank on the differences challenger - champion, SciPy's defaults (two-sided).
    Every difference zero: no shift (statistic 0, p 1) where SciPy answers NaN."""
    differences = pairs.challenger - pairs.champion
    base = {"mean_difference": float(np.mean(differences)), "median_difference": float(np.median(differences))}
    if not differences.any():
        return {**base, "statistic": 0.0, "p": 1.0}
    result = stats.wilcoxon(differences)
    return {**base, "statistic": float(result.statistic), "p": float(result.pvalue)}


def mcnemar(pairs: Pairs, threshold: float) -> dict:
    """McNemar's exact test: binomtest(b, b + c, 0.5) on the discordant pairs, where b counts requests only the
    champion got right and c those only the challenger got right."""
    truth = pairs.labels == 1
    champion_right = (pairs.champion >= threshold) == truth
    challenger_right = (pairs.challenger >= threshold) == truth
    b = int((champion_right & ~challenger_right).sum())
    c = int((~champion_right & challenger_right).sum())
    p = float(stats.binomtest(b, b + c, 0.5).pvalue) if b + c else 1.0
    verdict, reason = _verdict(p, c > b, f"McNemar exact p = {p:.3g} on {b + c} discordant pairs")
    return {
        "test": "mcnemar_exact",
        "n_labelled": len(truth),
        "b": b,
        "c": c,
        "p": p,
        "statistic": None,
        "challenger_accuracy": float(challenger_right.mean()),
        "champion_accuracy": float(champion_right.mean()),
        "challenger_mae": None,
        "champion_mae": None,
        "verdict": verdict,
        "reason": reason,
    }


def error_test(pairs: Pairs) -> dict:
    """Wilcoxon signed-rank on the paired absolute errors (challenger's - champion's); the lower mean absolute
    error is the better side when the test rejects."""
    challenger_errors = np.abs(pairs.challenger - pairs.labels)
    champion_errors = np.abs(pairs.champion - pairs.labels)
    differences = challenger_errors - champion_errors
    if differences.any():
        result = stats.wilcoxon(differences)
        statistic, p = float(result.statistic), float(result.pvalue)
    else:
        statistic, p = 0.0, 1.0
    challenger_mae, champion_mae = float(challenger_errors.mean()), float(champion_errors.mean())
    verdict, reason = _verdict(p, challenger_mae < champion_mae, f"Wilcoxon p = {p:.3g} on absolute errors")
    return {
        "test": "wilcoxon_abs_error",
        "n_labelled": len(differences),
        "b": None,
        "c": None,
        "p": p,
        "statistic": statistic,
        "challenger_accuracy": None,
        "champion_accuracy": None,
        "challenger_mae": challenger_mae,
        "champion_mae": champion_mae,
        "verdict": verdict,
        "reason": reason,
    }


def _verdict(p: float, challenger_ahead: bool, test: str) -> tuple[str, str]:
    if p >= ALPHA:
        return SAME, f"no difference at 95 % ({test})"
    return (
        (BETTER, f"the challenger is better ({test})")
        if challenger_ahead
        else (WORSE, f"the challenger is worse ({test})")
    )
