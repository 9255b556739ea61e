"""Fairness of a classifier's decisions across the groups of a sensitive column (pure: NumPy, no Django).

Per group the figures come from additive counts kept at ingest, at the service's classification threshold
(a score >= the threshold is a positive decision): n, positives, and for rows with a binary label (0/1 or
false/true) the confusion counts TP, FN, FP, TN. From them:

* positive_rate = positives / n, tpr = TP / (TP + FN), fpr = FP / (FP + TN);
* disparate_impact = lowest / highest positive rate among the groups with enough rows (the four-fifths
  rule: below DISPARATE_IMPACT_THRESHOLD fails);
* equal_opportunity_diff = highest - lowest TPR among the groups with enough labelled positives.

A group with fewer than MIN_GROUP_SAMPLES rows is `insufficient`: it is listed, never counted as fair.
A column with fewer than two sufficient groups is `insufficient_data`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# The four-fifths rule (US EEOC Uniform Guidelines): a selection rate under 80 % of the highest group's fails.
DISPARATE_IMPACT_THRESHOLD = 0.8
# Rows a group needs before its positive rate is judged (and labelled positives before its TPR is).
MIN_GROUP_SAMPLES = 30
# Distinct groups counted per deploy and sensitive column; rows of further groups count under OTHER_GROUP.
MAX_GROUPS = 50
OTHER_GROUP = "(other)"

FAIR, UNFAIR, INSUFFICIENT = "fair", "unfair", "insufficient_data"
COUNT_FIELDS = ("n", "positives", "tp", "fn", "fp", "tn")


@dataclass(frozen=True)
class GroupCounts:
    n: int = 0
    positives: int = 0
    tp: int = 0
    fn: int = 0
    fp: int = 0
    tn: int = 0

    def __add__(self, other: GroupCounts) -> GroupCounts:
        return GroupCounts(*(getattr(self, f) + getattr(other, f) for f in COUNT_FIELDS))


def group_counts(
    groups: np.ndarray, scores: np.ndarray, labels: np.ndarray | None, *, threshold: float
) -> dict[str, GroupCounts]:
    """Counts per group of the rows whose group and score are both present.

    `groups` holds strings (None where missing), `scores` floats (NaN where missing), `labels` floats with
    NaN where missing or not binary; None when the batch has no labels.
    """
    keep = np.array([g is not None for g in groups], dtype=bool) & ~np.isnan(scores)
    out: dict[str, GroupCounts] = {}
    if not keep.any():
        return out
    groups, scores = groups[keep], scores[keep]
    labels = labels[keep] if labels is not None else np.full(len(scores), np.nan)
    positive = scores >= threshold
    for group in sorted(set(groups.tolist())):
        rows = groups == group
        decided, truth = positive[rows], labels[rows]
        known = ~np.isnan(truth)
        actual = truth[known] == 1.0
        said = decided[known]
        out[group] = GroupCounts(
            n=int(rows.sum()),
            positives=int(decided.sum()),
            tp=int((said & actual).sum()),
            fn=int((~said & actual).sum()),
            fp=int((said & ~actual).sum()),
            tn=int((~said & ~actual).sum()),
        )
    return out


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _group_row(group: str, counts: GroupCounts, min_samples: int) -> dict[str, Any]:
    return {
        "group": group,
        "n": counts.n,
        "positive_rate": _rate(counts.positives, counts.n),
        "labelled": counts.tp + counts.fn + counts.fp + counts.tn,
        "tpr": _rate(counts.tp, counts.tp + counts.fn),
        "fpr": _rate(counts.fp, counts.fp + counts.tn),
        "sufficient": counts.n >= min_samples,
    }


def side_figures(counts: Mapping[str, GroupCounts], *, min_samples: int = MIN_GROUP_SAMPLES) -> dict[str, Any]:
    """One deploy's figures for one column: its groups (lowest positive rate first) and the two ratios."""
    rows = [_group_row(g, c, min_samples) for g, c in counts.items()]
    rows.sort(key=lambda r: (not r["sufficient"], r["positive_rate"] or 0.0, r["group"]))
    rates = [r["positive_rate"] for r in rows if r["sufficient"]]
    tprs = [_rate(c.tp, c.tp + c.fn) for c in counts.values() if c.n >= min_samples and c.tp + c.fn >= min_samples]
    disparate_impact = None
    if len(rates) >= 2:
        highest = max(rates)
        disparate_impact = min(rates) / highest if highest > 0 else 1.0
    return {
        "groups": rows,
        "disparate_impact": disparate_impact,
        "equal_opportunity_diff": max(tprs) - min(tprs) if len(tprs) >= 2 else None,
        "insufficient_groups": [r["group"] for r in rows if not r["sufficient"]],
    }


def _fails(side: Mapping[str, Any] | None, threshold: float) -> bool | None:
    """True or False when the side has a disparate-impact ratio; None when it cannot be judged."""
    if side is None or side["disparate_impact"] is None:
        return None
    return side["disparate_impact"] < threshold


def column_fairness(
    column: str,
    current: Mapping[str, GroupCounts],
    baseline: Mapping[str, GroupCounts] | None,
    *,
    min_samples: int = MIN_GROUP_SAMPLES,
    threshold: float = DISPARATE_IMPACT_THRESHOLD,
) -> dict[str, Any]:
    """This deploy and its baseline side by side for one sensitive column, with the column's verdict.

    `unfair` when this deploy fails the four-fifths rule; `crossed` says whether its baseline passed (the
    deploy brought the unfairness) — a baseline that failed too leaves the deploy unfair, never fair.
    """
    cur = side_figures(current, min_samples=min_samples)
    base = side_figures(baseline, min_samples=min_samples) if baseline else None
    fails, base_fails = _fails(cur, threshold), _fails(base, threshold)
    verdict = INSUFFICIENT if fails is None else (UNFAIR if fails else FAIR)
    return {
        "column": column,
        "verdict": verdict,
        "crossed": bool(fails) and base_fails is False,
        "current": cur,
        "baseline": base,
    }


_ORDER = {UNFAIR: 0, INSUFFICIENT: 1, FAIR: 2}


def fairness_report(
    columns: Iterable[dict[str, Any]], *, classification_threshold: float, min_samples: int = MIN_GROUP_SAMPLES
) -> dict[str, Any]:
    """The columns' results (worst first: unfair, then insufficient, then by disparate impact) and the verdict:
    unfair if any column is, fair only if every column is, else insufficient_data."""
    judged = sorted(
        columns,
        key=lambda c: (_ORDER[c["verdict"]], c["current"]["disparate_impact"] or 0.0, c["column"]),
    )
    verdicts = {c["verdict"] for c in judged}
    if UNFAIR in verdicts:
        verdict = UNFAIR
    elif verdicts == {FAIR}:
        verdict = FAIR
    else:
        verdict = INSUFFICIENT
    return {
        "verdict": verdict,
        "classification_threshold": classification_threshold,
        "disparate_impact_threshold": DISPARATE_IMPACT_THRESHOLD,
        "min_group_samples": min_samples,
        "columns": judged,
    }
