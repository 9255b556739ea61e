"""Alert lifecycle: rules judged on a deploy's reports open, update and resolve alerts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from alerts import engine, rules
from alerts.models import Alert, AlertGroup, AlertRule, AlertStatus, ResolvedReason, RuleKind
from alerts.selectors import deploy_facts
from alerts.services.grouping import alert_group_touch
from deployments.models import Deploy, Status
from tracker.errors import Conflict
from tracker.models import ApiToken, Project
from tracker.services import audit_record

SERVING = (Status.SUCCEEDED, Status.IN_PROGRESS)


def hysteresis() -> engine.Hysteresis:
    return engine.Hysteresis(clean_reports=settings.ALERT_CLEAN_REPORTS)


def alert_rules_create_defaults(*, project: Project) -> list[AlertRule]:
    """Every new project starts with one rule of each kind (the column rule disabled: it needs a column)."""
    created = []
    for spec, enabled in rules.DEFAULT_RULES:
        rule, _ = AlertRule.objects.get_or_create(
            project=project,
            key=spec.key,
            defaults={
                "name": RuleKind(spec.kind).label,
                "kind": spec.kind,
                "severity": spec.severity,
                "threshold": spec.threshold,
                "column": spec.column,
                "enabled": enabled,
            },
        )
        created.append(rule)
    return created


def alert_group_for(*, deploy: Deploy) -> AlertGroup:
    key = engine.group_key(
        project=deploy.project.slug, service=deploy.service.name, environment=deploy.environment.name
    )
    group, _ = AlertGroup.objects.get_or_create(
        project=deploy.project, service=deploy.service, environment=deploy.environment, defaults={"key": key}
    )
    return group


def _is_superseded(deploy: Deploy) -> bool:
    """A later succeeded deploy of the same service and environment replaced this one."""
    return (
        Deploy.objects.filter(
            service_id=deploy.service_id,
            environment_id=deploy.environment_id,
            status=Status.SUCCEEDED,
            deployed_at__gt=deploy.deployed_at,
        )
        .exclude(pk=deploy.pk)
        .exists()
    )


@transaction.atomic
def alerts_evaluate_deploy(
    *, deploy: Deploy, facts: rules.DeployFacts | None = None, now: datetime | None = None
) -> list[Alert]:
    """Judge every enabled rule on the deploy's latest reports; return the alerts that opened or closed.

    Called after an impact or drift report is stored. Idempotent: judging the same reports again
    opens nothing new (one open alert per fingerprint) and does not count a clean report twice.
    """
    now = now or timezone.now()
    deploy = Deploy.objects.select_related("project", "service", "environment").get(pk=deploy.pk)
    if deploy.status == Status.ROLLED_BACK:
        alerts_resolve_for_deploys(deploy_ids=[deploy.pk], reason=ResolvedReason.ROLLED_BACK, now=now)
        return []
    facts = facts or deploy_facts(deploy=deploy, now=now)
    # Only a deploy that serves traffic pages: a failed or pending one is not what users get.
    may_open = deploy.status in SERVING and not _is_superseded(deploy)
    group = alert_group_for(deploy=deploy)
    changed = []
    for rule in AlertRule.objects.filter(project=deploy.project, enabled=True):
        spec = rule.spec()
        if spec.applies_to(deploy.service.name, deploy.environment.name):
            alert = _judge(rule, spec, deploy, group, facts, now, may_open)
            if alert is not None:
                changed.append(alert)
    if changed:
        alert_group_touch(group=group, now=now)
    return changed


def _fingerprint(rule: AlertRule, deploy: Deploy) -> str:
    return engine.fingerprint(
        project=deploy.project.slug,
        rule=rule.key,
        service=deploy.service.name,
        environment=deploy.environment.name,
        deploy=str(deploy.pk),
    )


def _judge(
    rule: AlertRule,
    spec: rules.RuleSpec,
    deploy: Deploy,
    group: AlertGroup,
    facts: rules.DeployFacts,
    now: datetime,
    may_open: bool,
) -> Alert | None:
    """Apply one rule; return the alert if it opened or resolved (what the group must hear about)."""
    fp = _fingerprint(rule, deploy)
    alert = Alert.objects.select_for_update().open().filter(fingerprint=fp).first()
    evaluation = rules.evaluate(spec, facts, is_open=alert is not None, hysteresis=hysteresis())
    if alert is not None and _already_judged(alert, facts.report_time(rule.kind)):
        return None
    step = engine.transition(
        status=engine.AlertStatus(alert.status) if alert else None,
        clean_streak=alert.clean_streak if alert else 0,
        signal=evaluation.signal,
        final=facts.final,
        hysteresis=hysteresis(),
    )
    if step is engine.Step.OPEN and may_open and not _resolved_by_a_person(fp):
        return _open(rule, deploy, group, fp, evaluation, facts, now)
    if alert is None or step in (engine.Step.NOTHING, engine.Step.OPEN):
        return None
    return _advance(alert, step, evaluation, facts, now)


def _resolved_by_a_person(fp: str) -> bool:
    """A person closed this deploy's alert: the same rule does not page again for the same deploy."""
    return Alert.objects.filter(fingerprint=fp, resolved_reason=ResolvedReason.MANUAL).exists()


def _already_judged(alert: Alert, report_time: datetime | None) -> bool:
    return report_time is not None and alert.last_report_at is not None and report_time <= alert.last_report_at


def _open(
    rule: AlertRule,
    deploy: Deploy,
    group: AlertGroup,
    fp: str,
    evaluation: rules.Evaluation,
    facts: rules.DeployFacts,
    now: datetime,
) -> Alert | None:
    try:
        with transaction.atomic():
            return Alert.objects.create(
                project=deploy.project,
                group=group,
                rule=rule,
                rule_key=rule.key,
                kind=rule.kind,
                severity=rule.severity,
                deploy=deploy,
                service=deploy.service,
                environment=deploy.environment,
                fingerprint=fp,
                title=evaluation.title[:1000],
                numbers=evaluation.numbers,
                started_at=now,
                last_evaluated_at=now,
                last_report_at=facts.report_time(rule.kind),
            )
    except IntegrityError:
        # Another worker opened the same fingerprint a moment ago; its alert stands.
        return None


def _advance(
    alert: Alert, step: engine.Step, evaluation: rules.Evaluation, facts: rules.DeployFacts, now: datetime
) -> Alert | None:
    alert.last_evaluated_at = now
    alert.last_report_at = facts.report_time(alert.kind) or alert.last_report_at
    if step is engine.Step.KEEP:
        alert.clean_streak = 0
        if evaluation.title:
            alert.title, alert.numbers = evaluation.title[:1000], evaluation.numbers
        alert.save(update_fields=["clean_streak", "title", "numbers", "last_evaluated_at", "last_report_at"])
        return None
    if step is engine.Step.COUNT_CLEAN:
        alert.clean_streak += 1
        alert.save(update_fields=["clean_streak", "last_evaluated_at", "last_report_at"])
        return None
    alert.status, alert.resolved_at, alert.resolved_reason = AlertStatus.RESOLVED, now, ResolvedReason.CLEAN
    alert.save(update_fields=["status", "resolved_at", "resolved_reason", "last_evaluated_at", "last_report_at"])
    return alert


def alerts_resolve_for_deploys(*, deploy_ids: Iterable[int], reason: str, now: datetime | None = None) -> int:
    """Resolve the open alerts of deploys that were rolled back or replaced; tell their groups."""
    now = now or timezone.now()
    with transaction.atomic():
        alerts = list(Alert.objects.select_for_update().open().filter(deploy_id__in=list(deploy_ids)))
        for alert in alerts:
            alert.status, alert.resolved_at, alert.resolved_reason = AlertStatus.RESOLVED, now, reason
            alert.save(update_fields=["status", "resolved_at", "resolved_reason"])
        for group in AlertGroup.objects.filter(pk__in={a.group_id for a in alerts}):
            alert_group_touch(group=group, now=now)
    return len(alerts)


def alerts_resolve_superseded(*, deploy: Deploy, now: datetime | None = None) -> int:
    """A succeeded deploy replaces the earlier ones of its service and environment."""
    if deploy.status != Status.SUCCEEDED:
        return 0
    earlier = Alert.objects.open().filter(
        service_id=deploy.service_id,
        environment_id=deploy.environment_id,
        deploy__deployed_at__lt=deploy.deployed_at,
    )
    ids = set(earlier.values_list("deploy_id", flat=True))
    return alerts_resolve_for_deploys(deploy_ids=ids, reason=ResolvedReason.SUPERSEDED, now=now) if ids else 0


def alerts_resolve_missed() -> int:
    """The sweep's half of two on-commit reactions whose message may be lost: open alerts of deploys that were
    rolled back, then of deploys a later processed deploy of their stream replaced (as the task would)."""
    open_alerts = Alert.objects.open()
    undone = set(open_alerts.filter(deploy__status=Status.ROLLED_BACK).values_list("deploy_id", flat=True)[:500])
    resolved = alerts_resolve_for_deploys(deploy_ids=undone, reason=ResolvedReason.ROLLED_BACK) if undone else 0
    # A later deploy that went live and was processed (the moment the task would have run); one rolled back
    # since then still replaced it.
    later = Deploy.objects.filter(
        service_id=OuterRef("service_id"),
        environment_id=OuterRef("environment_id"),
        status__in=[Status.SUCCEEDED, Status.ROLLED_BACK],
        processed_at__isnull=False,
        deployed_at__gt=OuterRef("deploy__deployed_at"),
    )
    replaced = set(Alert.objects.open().filter(Exists(later)).values_list("deploy_id", flat=True)[:500])
    if replaced:
        resolved += alerts_resolve_for_deploys(deploy_ids=replaced, reason=ResolvedReason.SUPERSEDED)
    return resolved


class AlertStateError(Conflict):
    """The alert is already resolved (or already in the requested state)."""

    code = "alert_resolved"


@transaction.atomic
def alert_acknowledge(
    *, alert: Alert, user: AbstractBaseUser | None = None, token: ApiToken | None = None, now: datetime | None = None
) -> Alert:
    now = now or timezone.now()
    locked = Alert.objects.select_for_update().select_related("group").get(pk=alert.pk)
    if locked.status == AlertStatus.RESOLVED:
        raise AlertStateError("the alert is already resolved")
    if locked.status == AlertStatus.FIRING:
        locked.status, locked.acknowledged_at = AlertStatus.ACKNOWLEDGED, now
        locked.acknowledged_by = user if user is not None and user.is_authenticated else None
        locked.save(update_fields=["status", "acknowledged_at", "acknowledged_by"])
        audit_record(project=locked.project, action="alert.acknowledged", user=user, token=token, target=locked)
        # A person is on it: PagerDuty should stop paging now, not at the next tick.
        alert_group_touch(group=locked.group, now=now, urgent=True)
    return locked


@transaction.atomic
def alert_resolve(
    *, alert: Alert, user: AbstractBaseUser | None = None, token: ApiToken | None = None, now: datetime | None = None
) -> Alert:
    now = now or timezone.now()
    locked = Alert.objects.select_for_update().select_related("group").get(pk=alert.pk)
    if locked.status == AlertStatus.RESOLVED:
        raise AlertStateError("the alert is already resolved")
    locked.status, locked.resolved_at, locked.resolved_reason = AlertStatus.RESOLVED, now, ResolvedReason.MANUAL
    locked.resolved_by = user if user is not None and user.is_authenticated else None
    locked.save(update_fields=["status", "resolved_at", "resolved_reason", "resolved_by"])
    audit_record(project=locked.project, action="alert.resolved", user=user, token=token, target=locked)
    alert_group_touch(group=locked.group, now=now, urgent=True)
    return locked
