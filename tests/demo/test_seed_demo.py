"""The seeded demo tells the truth: its reports and alerts come from the real analysis and alert engine, so
every alert quotes its deploy's report, names only what the deploy has, and the history is in time order."""

from __future__ import annotations

from collections import Counter

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db.models import Max

from alerts.models import Alert, Channel
from deployments.models import Deploy, DeployEvent
from metrics.drift.models import ColumnSketch, DriftReport
from metrics.impact.models import ImpactReport, MetricRollup
from rollbacks.models import RollbackEndpoint, RollbackRequest
from tracker.models import Project

# Seeding runs the product's tasks on commit, as the command does: each test commits for real.
pytestmark = pytest.mark.django_db(transaction=True)
IMPACT_KINDS = ("impact_degraded", "critical_metric")


@pytest.fixture
def demo(settings) -> Project:
    call_command("seed_demo", "--force")
    return Project.objects.get(slug="demo")


def metric_names(deploy: Deploy) -> set[str]:
    return set(MetricRollup.objects.filter(deploy_key=deploy.pk).values_list("name", flat=True))


def column_names(deploy: Deploy) -> set[str]:
    sketches = ColumnSketch.objects.filter(deploy=deploy).select_related("column")
    return {s.column.name if s.column.role == "feature" else s.column.role for s in sketches}


def expected_numbers(alert: Alert) -> dict:
    """What the alert must say, read from its deploy's stored reports (not from the alert engine)."""
    if alert.kind in IMPACT_KINDS:
        report = ImpactReport.objects.get(deploy=alert.deploy)
        if alert.kind == "impact_degraded":
            failed = [m["name"] for m in report.metrics if m["failed"]]
            return {"verdict": report.verdict, "score": report.score, "failed": failed}
        failed = [m for m in report.metrics if m["critical"] and m["failed"]]
        keys = ("classification", "relative_change", "p_value")
        return {"failed": {m["name"]: {k: m[k] for k in keys} for m in failed}}
    report = DriftReport.objects.get(deploy=alert.deploy)
    columns = report.result["columns"]
    if alert.kind == "drift_share":
        return {
            "drift_share": round(report.drift_share, 4),
            "threshold": 0.5,
            "drifted": sorted(c["column"] for c in columns if c["verdict"] == "drifted"),
            "judged": report.n_columns,
        }
    keys = ("verdict", "method", "score", "threshold", "psi")
    predictions = {c["column"]: {k: c[k] for k in keys} for c in columns if c["role"] == "prediction"}
    return {"columns": predictions, "cause": report.prediction_drift_cause or None}


def named_in(alert: Alert) -> set[str]:
    numbers = alert.numbers
    if alert.kind == "impact_degraded":
        return set(numbers["failed"])
    if alert.kind == "drift_share":
        return set(numbers["drifted"])
    return set(numbers.get("failed") or numbers.get("columns"))


def check_every_alert_quotes_its_deploys_report_and_names_only_what_the_deploy_has(demo) -> None:
    alerts = list(Alert.objects.filter(project=demo).select_related("deploy"))
    assert {a.kind for a in alerts} == {"impact_degraded", "critical_metric", "drift_share", "prediction_drift"}
    for alert in alerts:
        assert alert.numbers == expected_numbers(alert), alert.title
        has = metric_names(alert.deploy) if alert.kind in IMPACT_KINDS else column_names(alert.deploy)
        assert named_in(alert) and named_in(alert) <= has, (alert.title, has)
        if alert.kind != "drift_share":  # its title gives counts, not names
            assert all(name in alert.title for name in named_in(alert))
    share = next(a for a in alerts if a.kind == "drift_share")
    report = share.deploy.drift_report
    assert f"{report.n_drifted} of {report.n_columns} columns drifted" in share.title


def check_the_story_is_told_by_the_analysis(demo) -> None:
    production = Deploy.objects.filter(project=demo, environment__name="production").select_related("impact_report")
    verdicts = Counter(d.impact_report.verdict for d in production if d.status != "failed")
    assert verdicts["degraded"] == 1 and verdicts["improved"] == 1
    assert verdicts["insufficient_data"] <= 2  # the first deploy of each stream has no baseline
    assert verdicts["healthy"] >= 0.75 * sum(verdicts.values())
    [degraded] = [d for d in production if d.impact_report.verdict == "degraded"]
    assert degraded.status == "rolled_back" and degraded.rolled_back_by.is_rollback
    assert {a.resolved_reason for a in Alert.objects.filter(deploy=degraded)} == {"rolled_back"}
    causes = Counter(DriftReport.objects.filter(deploy__project=demo).values_list("prediction_drift_cause", flat=True))
    assert causes["model_change"] == 1 and causes["input_drift"] == 1
    newest = production.filter(service__name="fraud-scorer").latest("deployed_at")
    assert newest.drift_report.dataset_drift and newest.drift_report.n_expected == 1
    assert set(Alert.objects.open().values_list("deploy_id", flat=True)) == {newest.pk}
    sparse = Deploy.objects.filter(project=demo, environment__name="staging").latest("deployed_at")
    assert (sparse.service.name, sparse.impact_report.verdict, sparse.impact_report.final) == (
        "churn-model",
        "insufficient_data",
        False,
    )


def check_the_history_is_written_in_time_order(demo) -> None:
    deploys = list(Deploy.objects.filter(project=demo).order_by("id").values_list("deployed_at", flat=True))
    assert deploys == sorted(deploys) and len(deploys) >= 50
    for model, field in ((DeployEvent, "at"), (Alert, "started_at")):
        stamps = list(model.objects.order_by("id").values_list(field, flat=True))
        assert stamps == sorted(stamps), model.__name__
    # Each deploy event was received when the deploy went out, and the analysis came after it.
    for deploy in Deploy.objects.filter(project=demo).annotate(last=Max("events__at")):
        assert deploy.events.order_by("id").first().at == deploy.deployed_at
        assert deploy.last >= deploy.deployed_at


def check_nothing_is_hand_made_and_the_demo_points_at_its_own_receiver(demo, settings) -> None:
    assert not RollbackRequest.objects.exists()
    channel = Channel.objects.get(project=demo)
    assert channel.enabled and channel.url_hint.startswith(settings.SITE_URL)
    endpoint = RollbackEndpoint.objects.get(project=demo)
    assert endpoint.url == f"{settings.SITE_URL}/demo-receiver/demo/rollback"
    user = User.objects.get(username="demo")
    assert user.is_staff and user.is_superuser and user.check_password("demo")


def test_the_seeded_demo_tells_its_story_truthfully(demo, settings) -> None:
    """Seeding runs the whole product for tens of seconds: one seeding, then every check of what it left (each a
    function of its own, named for what it proves)."""
    check_every_alert_quotes_its_deploys_report_and_names_only_what_the_deploy_has(demo)
    check_the_story_is_told_by_the_analysis(demo)
    check_the_history_is_written_in_time_order(demo)
    check_nothing_is_hand_made_and_the_demo_points_at_its_own_receiver(demo, settings)


def test_it_refuses_to_seed_with_debug_off_unless_forced(db, settings) -> None:
    settings.DEBUG = False
    with pytest.raises(CommandError, match="--force"):
        call_command("seed_demo")
    assert not Project.objects.filter(slug="demo").exists()
