"""Realised quality of a deploy's predictions from the labels posted with them (no Django imports).

Computed on a bounded uniform sample of (prediction, label) pairs: exact while a deploy has at most
10,000 labelled rows, an unbiased estimate above. Binary labels (0/1 or false/true) with scores give
ROC AUC, Brier score, accuracy at 0.5 and the calibration gap; other numeric labels give regression errors.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

MIN_PAIRS = 30


def realised_quality(pairs: np.ndarray, n: int) -> dict | None:
    """Quality figures of an (k, 2) array of (prediction, label) rows; None below MIN_PAIRS."""
    if len(pairs) < MIN_PAIRS:
        return None
    predictions, labels = pairs[:, 0], pairs[:, 1]
    base = {"n": n, "sample": len(pairs), "exact": len(pairs) == n}
    if np.isin(labels, (0.0, 1.0)).all():
        return {**base, "task": "binary", **binary_quality(predictions, labels)}
    errors = predictions - labels
    return {
        **base,
        "task": "regression",
        "mae": float(np.mean(np.abs(errors))),
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "bias": float(np.mean(errors)),
    }


def binary_quality(scores: np.ndarray, labels: np.ndarray) -> dict:
    positives = int(labels.sum())
    out = {"positive_rate": positives / len(labels), "mean_prediction": float(np.mean(scores))}
    out["calibration_gap"] = out["mean_prediction"] - out["positive_rate"]
    out["auc"] = roc_auc(scores, labels) if 0 < positives < len(labels) else None
    if ((scores >= 0) & (scores <= 1)).all():  # probabilities: Brier and accuracy are defined
        out["brier"] = float(np.mean((scores - labels) ** 2))
        out["accuracy"] = float(np.mean((scores >= 0.5) == (labels == 1)))
    return out


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the rank-sum (Mann-Whitney) form, ties counted half."""
    ranks = stats.rankdata(scores)
    positive = labels == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
