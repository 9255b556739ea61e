"""Fairness across a sensitive column's groups: figures against a hand computation, kept at ingest, paged on."""

from __future__ import annotations

import time

import numpy as np
import pytest

from alerts import services as alert_services
from alerts.selectors import deploy_facts
from deployments.models import Service
from deployments.services import deploy_record
from deployments.settings_services import service_settings_update
from metrics.drift.models import FairnessCount
from metrics.drift.services import drift_compute, samples_ingest
from metrics.predictions import validate_batch
from metrics.stats import fairness


def rows_of(group: str, *, tp: int, fp: int, fn: int, tn: int, score_at_threshold: bool = False) -> list[tuple]:
    """(group, score, label) rows with the given confusion counts at threshold 0.5."""
    positives = [(group, 0.9, 1)] * tp + [(group, 0.8, 0)] * fp
    if score_at_threshold and positives:
        positives[0] = (group, 0.5, positives[0][2])  # a score equal to the threshold is a positive decision
    return positives + [(group, 0.2, 1)] * fn + [(group, 0.1, 0)] * tn


# f: 40 of 100 positive, TPR 30/40, FPR 10/60; m: 60 of 100 positive, TPR 45/50, FPR 15/50; x: 10 rows only.
CURRENT = (
    rows_of("f", tp=30, fp=10, fn=10, tn=50, score_at_threshold=True)
    + rows_of("m", tp=45, fp=15, fn=5, tn=35)
    + rows_of("x", tp=5, fp=5, fn=0, tn=0)
)
# f: 50 of 100 positive, m: 55 of 100: 50/55 = 0.909, above the four-fifths line.
BASELINE = rows_of("f", tp=40, fp=10, fn=10, tn=40) + rows_of("m", tp=45, fp=10, fn=5, tn=40)


def counts_of(rows: list[tuple]) -> dict[str, fairness.GroupCounts]:
    groups = np.array([r[0] for r in rows], dtype=object)
    scores = np.array([r[1] for r in rows], dtype=float)
    labels = np.array([r[2] for r in rows], dtype=float)
    return fairness.group_counts(groups, scores, labels, threshold=0.5)


def test_the_figures_equal_a_hand_computation() -> None:
    counts = counts_of(CURRENT)
    assert counts["f"] == fairness.GroupCounts(n=100, positives=40, tp=30, fn=10, fp=10, tn=50)
    result = fairness.column_fairness("gender", counts, counts_of(BASELINE))
    groups = {g["group"]: g for g in result["current"]["groups"]}
    assert groups["f"]["positive_rate"] == 0.40
    assert groups["f"]["tpr"] == 30 / 40
    assert groups["f"]["fpr"] == 10 / 60
    assert groups["m"]["positive_rate"] == 0.60
    assert groups["m"]["tpr"] == 45 / 50
    assert groups["m"]["fpr"] == 15 / 50
    assert result["current"]["disparate_impact"] == pytest.approx(0.40 / 0.60, abs=1e-12)
    assert result["current"]["equal_opportunity_diff"] == pytest.approx(45 / 50 - 30 / 40, abs=1e-12)
    assert result["baseline"]["disparate_impact"] == pytest.approx(0.50 / 0.55, abs=1e-12)
    assert result["verdict"] == "unfair"
    assert result["crossed"] is True


def test_a_group_under_the_minimum_sample_is_insufficient_and_not_in_the_ratio() -> None:
    result = fairness.column_fairness("gender", counts_of(CURRENT), None)
    groups = {g["group"]: g for g in result["current"]["groups"]}
    assert groups["x"]["sufficient"] is False  # 10 rows, all positive: counted, would make the ratio 0.4
    assert result["current"]["insufficient_groups"] == ["x"]
    assert result["current"]["disparate_impact"] == pytest.approx(0.40 / 0.60, abs=1e-12)


def test_a_column_with_one_sufficient_group_is_insufficient_data_never_fair() -> None:
    result = fairness.column_fairness("gender", counts_of(rows_of("f", tp=50, fp=0, fn=0, tn=50)[:60]), None)
    assert result["verdict"] == "insufficient_data"
    report = fairness.fairness_report([result], classification_threshold=0.5)
    assert report["verdict"] == "insufficient_data"


def test_a_deploy_that_stays_above_four_fifths_is_fair() -> None:
    result = fairness.column_fairness("gender", counts_of(BASELINE), counts_of(BASELINE))
    assert result["verdict"] == "fair"
    assert result["crossed"] is False


def test_the_report_lists_the_worst_column_first() -> None:
    fair = fairness.column_fairness("age_band", counts_of(BASELINE), None)
    unfair = fairness.column_fairness("gender", counts_of(CURRENT), None)
    report = fairness.fairness_report([fair, unfair], classification_threshold=0.5)
    assert [c["column"] for c in report["columns"]] == ["gender", "age_band"]
    assert report["verdict"] == "unfair"
    assert report["disparate_impact_threshold"] == fairness.DISPARATE_IMPACT_THRESHOLD == 0.8


def post(deploy, rows: list[tuple]) -> None:
    body = {
        "service": deploy.service.name,
        "environment": deploy.environment.name,
        "deploy": deploy.pk,
        "rows": [{"features": {"gender": g, "income": 1.0}, "prediction": s, "label": y} for g, s, y in rows],
    }
    samples_ingest(project=deploy.project, batch=validate_batch(body, now=time.time()))


@pytest.mark.django_db
def test_a_deploy_crossing_four_fifths_is_unfair_in_its_drift_report_and_pages(project) -> None:
    baseline, _ = deploy_record(project=project, service="scorer", environment="production", version="1")
    service = Service.objects.get(pk=baseline.service_id)
    service_settings_update(service=service, changes={"sensitive_columns": ["gender"]})
    post(baseline, BASELINE)
    deploy, _ = deploy_record(project=project, service="scorer", environment="production", version="2")
    assert deploy.baseline_id == baseline.pk
    half = len(CURRENT) // 2
    post(deploy, CURRENT[:half])  # two batches: the counts add up
    post(deploy, CURRENT[half:])
    assert FairnessCount.objects.filter(deploy=deploy).count() == 3

    report = drift_compute(deploy=deploy)
    [column] = report.result["fairness"]["columns"]
    assert report.result["fairness"]["verdict"] == "unfair"
    assert column["current"]["disparate_impact"] == pytest.approx(0.40 / 0.60, abs=1e-12)
    assert column["current"]["equal_opportunity_diff"] == pytest.approx(0.90 - 0.75, abs=1e-12)
    assert column["baseline"]["disparate_impact"] == pytest.approx(0.50 / 0.55, abs=1e-12)
    assert [f.verdict for f in deploy_facts(deploy=deploy, now=report.computed_at).fairness] == ["unfair"]

    alerts = alert_services.alerts_evaluate_deploy(deploy=deploy)
    [alert] = [a for a in alerts if a.rule_key == "unfair"]
    assert alert.title == "Unfair: gender disparate impact 0.67 (baseline 0.91)"
    assert alert.numbers["columns"]["gender"]["crossed"] is True


@pytest.mark.django_db
def test_the_baseline_judged_fair_opens_no_unfair_alert(project) -> None:
    first, _ = deploy_record(project=project, service="scorer", environment="production", version="1")
    service_settings_update(service=Service.objects.get(pk=first.service_id), changes={"sensitive_columns": ["gender"]})
    post(first, BASELINE)
    second, _ = deploy_record(project=project, service="scorer", environment="production", version="2")
    post(second, BASELINE)
    report = drift_compute(deploy=second)
    assert report.result["fairness"]["verdict"] == "fair"
    assert [a for a in alert_services.alerts_evaluate_deploy(deploy=second) if a.rule_key == "unfair"] == []


@pytest.mark.django_db
def test_without_sensitive_columns_nothing_is_counted(project) -> None:
    deploy, _ = deploy_record(project=project, service="scorer", environment="production", version="1")
    post(deploy, BASELINE)
    assert not FairnessCount.objects.exists()


@pytest.mark.django_db
def test_groups_beyond_the_cap_pool_under_other_and_no_row_is_lost(project) -> None:
    deploy, _ = deploy_record(project=project, service="scorer", environment="production", version="1")
    service_settings_update(
        service=Service.objects.get(pk=deploy.service_id), changes={"sensitive_columns": ["gender"]}
    )
    post(deploy, [(f"g{i:02}", 0.9, 1) for i in range(40)])
    post(deploy, [(f"g{i:02}", 0.9, 1) for i in range(30, 70)])  # 30 new groups; 10 seen already
    rows = {c.group: c.n for c in FairnessCount.objects.filter(deploy=deploy)}
    assert len(rows) == fairness.MAX_GROUPS
    assert rows[fairness.OTHER_GROUP] == 70 - (fairness.MAX_GROUPS - 1)
    assert sum(rows.values()) == 80


@pytest.mark.django_db
def test_a_changed_threshold_applies_to_samples_posted_after_it(project) -> None:
    deploy, _ = deploy_record(project=project, service="scorer", environment="production", version="1")
    service = Service.objects.get(pk=deploy.service_id)
    service_settings_update(service=service, changes={"sensitive_columns": ["gender"]})
    post(deploy, BASELINE)
    service_settings_update(service=service, changes={"classification_threshold": 0.85})
    post(deploy, BASELINE)
    kept = {(c.group, c.threshold): (c.n, c.positives) for c in FairnessCount.objects.filter(deploy=deploy)}
    # At 0.85 only the 0.9 scores (the true positives) are positive decisions.
    assert kept == {("f", 0.5): (100, 50), ("m", 0.5): (100, 55), ("f", 0.85): (100, 40), ("m", 0.85): (100, 45)}
