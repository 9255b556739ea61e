"""Reads for shadow pairing: which deploys keep requests, a challenger's pairs, its comparison with the champion."""

from __future__ import annotations

import numpy as np
from django.db import connection
from django.db.models import Min, Q

from deployments.models import Deploy, Strategy
from metrics.shadow.models import ShadowSample, ShadowSampler
from metrics.stats import shadow as stats_shadow

# Deploy.runs_beside_baseline as a query: a canary, A/B or shadow deploy, or one taking part of the traffic.
BESIDE_BASELINE = Q(strategy__in=[Strategy.CANARY, Strategy.AB, Strategy.SHADOW]) | Q(traffic_percent__lt=100)


def pairing_starts(*, deploy_ids: list[int]) -> dict[int, float]:
    """Per deploy that pairs, the earliest time (epoch seconds) from which its rows are kept: a challenger's from
    the start; a champion's from when its first challenger went out (its earlier requests have no partner)."""
    challengers = Deploy.objects.filter(pk__in=deploy_ids, baseline__isnull=False).filter(BESIDE_BASELINE)
    starts = dict.fromkeys(challengers.values_list("pk", flat=True), float("-inf"))
    champions = (
        Deploy.objects.filter(baseline_id__in=deploy_ids)
        .filter(BESIDE_BASELINE)
        .values("baseline_id")
        .annotate(first=Min("deployed_at"))
    )
    for row in champions:
        starts.setdefault(row["baseline_id"], row["first"].timestamp())
    return starts


def champion_of(deploy: Deploy) -> Deploy | None:
    """The deploy a shadow or A/B deploy (any deploy running beside its baseline) is compared with."""
    return deploy.baseline if deploy.runs_beside_baseline else None


def shadow_pairs(*, challenger_id: int, champion_id: int) -> tuple[stats_shadow.Pairs, int]:
    """The requests both deploys kept, below the lower of their cuts (where each kept every request it saw),
    and that cut. The label is the champion's where it has one, else the challenger's."""
    cuts = dict(
        ShadowSampler.objects.filter(deploy_id__in=[challenger_id, champion_id]).values_list("deploy_id", "cut")
    )
    empty = np.empty(0)
    if len(cuts) < 2:
        return stats_shadow.Pairs(empty, empty, empty), min(cuts.values(), default=stats_shadow.NO_CUT)
    cut = min(cuts.values())
    challenger, champion = (_sample_below(deploy_id, cut) for deploy_id in (challenger_id, champion_id))
    _, i, j = np.intersect1d(challenger[0], champion[0], assume_unique=True, return_indices=True)
    labels = np.where(np.isnan(champion[2][j]), challenger[2][i], champion[2][j])
    return stats_shadow.Pairs(challenger[1][i], champion[1][j], labels), cut


def _sample_below(deploy_id: int, cut: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A deploy's kept requests at or below the cut: hashes (int64), predictions, labels (NaN where none)."""
    # One fetch of plain tuples: up to SAMPLE_SIZE rows, where the ORM's chunked iteration costs more.
    sql, params = (
        ShadowSample.objects.filter(deploy_id=deploy_id, request_hash__lte=cut)
        .values_list("request_hash", "prediction", "label")
        .query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    hashes = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    predictions = np.fromiter((r[1] for r in rows), dtype=np.float64, count=len(rows))
    labels = np.fromiter((np.nan if r[2] is None else r[2] for r in rows), dtype=np.float64, count=len(rows))
    return hashes, predictions, labels


def shadow_comparison(*, deploy: Deploy) -> dict:
    """The API's and the page's answer for a deploy: its champion, the pairs' statistics and the verdict."""
    champion = champion_of(deploy)
    threshold = deploy.service.analysis_settings(deploy.environment_id).classification_threshold
    head = {"deploy": deploy.pk, "champion": champion.pk if champion else None, "threshold": threshold}
    head["sample_size"] = stats_shadow.SAMPLE_SIZE
    if champion is None:
        empty = stats_shadow.compare(stats_shadow.Pairs(*(np.empty(0),) * 3), threshold=threshold)
        reason = "this deploy does not run beside a baseline (shadow, A/B, canary or partial traffic)"
        return {**head, **empty, "sample_rate": None, "reason": reason}
    pairs, cut = shadow_pairs(challenger_id=deploy.pk, champion_id=champion.pk)
    # The share of all requests both sides keep: 1 while neither side has seen more than SAMPLE_SIZE.
    rate = 1.0 if cut == stats_shadow.NO_CUT else (cut + 1) / 2**63
    return {**head, **stats_shadow.compare(pairs, threshold=threshold), "sample_rate": rate}


# The impact badges' colours for the shadow verdict.
VERDICT_BADGES = {
    "better": "improved",
    "worse": "degraded",
    "same": "healthy",
    "insufficient_data": "insufficient_data",
}


def shadow_section(*, deploy: Deploy) -> dict | None:
    """The deploy page's part: None unless the deploy runs beside a champion."""
    champion = champion_of(deploy)
    if champion is None:
        return None
    comparison = shadow_comparison(deploy=deploy)
    return {**comparison, "champion_version": champion.version, "badge": VERDICT_BADGES[comparison["verdict"]]}
