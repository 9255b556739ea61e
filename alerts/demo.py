"""Demo alerts: one firing, one acknowledged, resolved ones (rolled back, clean), and a generic webhook channel."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.utils import timezone

from alerts import services
from alerts.models import Alert, AlertRule, AlertStatus, Channel, ChannelKind, ResolvedReason
from alerts.rules import ColumnFact, DeployFacts, MetricFact
from deployments.models import Deploy, Status
from tracker import crypto, signing
from tracker.models import Project

DEMO_HOOK = "https://hooks.example.com/deploy-tracker"


def _latest(project: Project, service: str, environment: str) -> Deploy | None:
    return (
        Deploy.objects.filter(
            project=project, service__name=service, environment__name=environment, status=Status.SUCCEEDED
        )
        .order_by("-deployed_at", "-id")
        .first()
    )


def _drifted_facts() -> DeployFacts:
    columns = (
        ColumnFact("income", "feature", "drifted", 3.1, "ks", 0.0002, 0.05, 0.38),
        ColumnFact("merchant_category", "feature", "drifted", 2.4, "chisquare", 0.001, 0.05, 0.27),
        ColumnFact("age", "feature", "stable", 0.4, "ks", 0.31, 0.05, 0.02),
        ColumnFact("score", "prediction", "drifted", 1.8, "ks", 0.004, 0.05, 0.19),
    )
    return DeployFacts(columns=columns, has_drift_report=True, reported_at=timezone.now())


def _degraded_facts() -> DeployFacts:
    latency = MetricFact("latency_p95_ms", "High", critical=True, failed=True, relative_change=0.31, p_value=0.0003)
    return DeployFacts(impact_verdict="degraded", impact_score=50.0, metrics=(latency,), reported_at=timezone.now())


def _channel(project: Project) -> None:
    # Stored directly: the demo host is not resolvable offline, and the demo must seed without network.
    Channel.objects.get_or_create(
        project=project,
        name="ops webhook (example)",
        defaults={
            "kind": ChannelKind.WEBHOOK,
            "url_encrypted": crypto.encrypt(DEMO_HOOK),
            "url_hint": "https://hooks.example.com/…",
            "secret_encrypted": crypto.encrypt(signing.secret_generate()),
        },
    )


def _historic(project: Project) -> None:
    """A resolved alert on the deploy the demo rolled back: what on-call saw before the rollback."""
    undone = Deploy.objects.filter(project=project, status=Status.ROLLED_BACK).select_related("rolled_back_by").first()
    rule = AlertRule.objects.filter(project=project, key="impact-degraded").first()
    if undone is None or rule is None:
        return
    group = services.alert_group_for(deploy=undone)
    resolved_at = undone.rolled_back_by.deployed_at if undone.rolled_back_by else timezone.now()
    Alert.objects.create(
        project=project, group=group, rule=rule, rule_key=rule.key, kind=rule.kind, severity=rule.severity,
        deploy=undone, service=undone.service, environment=undone.environment,
        fingerprint=f"demo-{undone.pk}", status=AlertStatus.RESOLVED,
        title="Impact verdict degraded (score 50): error_rate High +64.0%, p=1.2e-05",
        numbers={"verdict": "degraded", "score": 50.0, "failed": ["error_rate"]},
        started_at=undone.deployed_at + timedelta(minutes=7), last_evaluated_at=resolved_at,
        resolved_at=resolved_at, resolved_reason=ResolvedReason.ROLLED_BACK,
    )  # fmt: skip


def _resolved_clean(deploy: Deploy) -> None:
    """Opened on a drifted report, resolved by three clean ones (the hysteresis run)."""
    services.alerts_evaluate_deploy(deploy=deploy, facts=_drifted_facts())
    stable = tuple(ColumnFact(n, "feature", "stable", 0.3, "ks", 0.4, 0.05, 0.02) for n in ("income", "age", "tenure"))
    stable += (ColumnFact("score", "prediction", "stable", 0.2, "ks", 0.6, 0.05, 0.01),)
    for minutes in (1, 2, 3):
        at = timezone.now() + timedelta(seconds=minutes)
        facts = DeployFacts(columns=stable, has_drift_report=True, reported_at=at)
        services.alerts_evaluate_deploy(deploy=deploy, facts=facts, now=at)


def seed(*, project: Project) -> None:
    _channel(project)
    _historic(project)
    firing = _latest(project, "churn-model", "production")
    if firing is not None:
        services.alerts_evaluate_deploy(deploy=firing, facts=_drifted_facts())
    acked = _latest(project, "churn-model", "staging")
    if acked is not None:
        demo_user = get_user_model().objects.filter(username="demo").first()
        for alert in services.alerts_evaluate_deploy(deploy=acked, facts=_degraded_facts()):
            services.alert_acknowledge(alert=alert, user=demo_user)
    recovered = _latest(project, "fraud-scorer", "staging")
    if recovered is not None:
        _resolved_clean(recovered)
