"""Alerts judged on real impact and drift reports, as the impact and drift apps store them."""

from __future__ import annotations

import numpy as np
import pytest
from django.utils import timezone

from alerts import services
from alerts.models import Alert
from alerts.selectors import deploy_facts
from deployments.services import deploy_record
from metrics.drift.models import DriftReport
from metrics.impact.models import ImpactReport
from metrics.stats import drift as stats_drift
from metrics.stats import impact as judge
from metrics.stats import sketch as sk

pytestmark = pytest.mark.django_db


def numeric(values: np.ndarray) -> sk.NumericSketch:
    return sk.numeric_sketch(values, rng=np.random.default_rng(0))


def drift_result(*, shift: float, expected: tuple[str, ...] = ()) -> dict:
    """Three features and the prediction from the real drift judge; `shift` moves income and age."""
    rng = np.random.default_rng(7)
    ref = {name: rng.normal(0, 1, 400) for name in ("income", "age", "tenure", "score")}
    cur = {name: rng.normal(0, 1, 400) for name in ("income", "age", "tenure", "score")}
    cur["income"] += shift
    cur["age"] += shift
    columns = [
        stats_drift.ColumnInput(name, "numeric", numeric(ref[name]), numeric(cur[name]),
                                role="prediction" if name == "score" else "feature")
        for name in ref
    ]  # fmt: skip
    return stats_drift.drift_report(columns, expected_drift=expected).as_dict()


@pytest.fixture
def deploy(project):
    deploy, _ = deploy_record(project=project, service="fraud-scorer", environment="production", version="41")
    return deploy


def store_drift(deploy, result: dict) -> DriftReport:
    report, _ = DriftReport.objects.update_or_create(
        deploy=deploy,
        defaults={"status": "ok", "result": result, "computed_at": timezone.now(), "n_columns": len(result["columns"])},
    )
    return report


def test_a_real_drift_report_with_two_of_four_columns_moved_opens_the_drift_share_alert_with_its_share(deploy) -> None:
    report = store_drift(deploy, drift_result(shift=1.5))
    facts = deploy_facts(deploy=deploy, now=timezone.now())
    assert {c.name: c.verdict for c in facts.columns if c.role == "feature"} == {
        "income": "drifted",
        "age": "drifted",
        "tenure": "stable",
    }
    [alert] = services.alerts_evaluate_deploy(deploy=deploy)
    assert alert.rule_key == "drift-share"
    assert alert.numbers["drifted"] == ["age", "income"]
    assert alert.numbers["drift_share"] == report.result["drift_share"] == 0.5  # the prediction did not move
    assert alert.title == "Dataset drift: 2 of 4 columns drifted (alerts from 50% of the columns)"


def test_drift_the_deploy_declared_does_not_page(project) -> None:
    deploy, _ = deploy_record(
        project=project,
        service="fraud-scorer",
        environment="production",
        version="42",
        expected_drift=["income", "age"],
    )
    store_drift(deploy, drift_result(shift=1.5, expected=("income", "age")))
    assert services.alerts_evaluate_deploy(deploy=deploy) == []


def test_a_degraded_impact_report_with_a_failed_critical_metric_opens_both_impact_alerts(deploy) -> None:
    rng = np.random.default_rng(3)
    rules = [judge.MetricRule("latency_ms", judge.INCREASE_IS_BAD, critical=True), judge.MetricRule("cpu")]
    verdict = judge.judge(
        rules,
        {"latency_ms": (rng.normal(100, 5, 200), rng.normal(140, 5, 200)), "cpu": (rng.normal(50, 5, 200),) * 2},
    )
    assert verdict.verdict == "degraded"
    ImpactReport.objects.create(
        deploy=deploy,
        verdict=verdict.verdict,
        score=verdict.score,
        metrics=verdict.to_dict()["metrics"],
        computed_at=timezone.now(),
    )
    alerts = services.alerts_evaluate_deploy(deploy=deploy)
    assert sorted(a.rule_key for a in alerts) == ["critical-metric", "impact-degraded"]
    critical = next(a for a in alerts if a.rule_key == "critical-metric")
    assert critical.title.startswith("Critical metric failed: latency_ms High +")
    assert critical.numbers["failed"]["latency_ms"]["relative_change"] == pytest.approx(0.4, abs=0.02)


def test_a_stored_report_signal_makes_the_alert_evaluation_run(deploy, django_capture_on_commit_callbacks) -> None:
    """The drift app sends drift_report_computed after storing a report; alerts evaluates it (in-process tasks)."""
    from metrics.drift.signals import drift_report_computed

    report = store_drift(deploy, drift_result(shift=1.5))
    with django_capture_on_commit_callbacks(execute=True):
        drift_report_computed.send(sender=DriftReport, report=report)
    assert Alert.objects.filter(deploy=deploy, rule_key="drift-share", status="firing").exists()


def test_a_new_impact_report_is_not_counted_as_another_clean_drift_reading(deploy) -> None:
    """Hysteresis counts clean reports of the kind the rule reads: drift for drift rules."""
    report = store_drift(deploy, drift_result(shift=1.5))
    [alert] = services.alerts_evaluate_deploy(deploy=deploy)
    DriftReport.objects.filter(pk=report.pk).update(result=drift_result(shift=0.0), computed_at=timezone.now())
    assert services.alerts_evaluate_deploy(deploy=deploy) == []  # first clean drift report
    for _ in range(3):  # impact recomputed three times; drift unchanged
        ImpactReport.objects.update_or_create(
            deploy=deploy, defaults={"verdict": "healthy", "computed_at": timezone.now()}
        )
        assert services.alerts_evaluate_deploy(deploy=deploy) == []
    alert.refresh_from_db()
    assert (alert.status, alert.clean_streak) == ("firing", 1)
