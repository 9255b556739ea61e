"""Alert rules as settings: create, change, disable and delete them (admin only)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from alerts.models import Alert, AlertGroup, AlertRule, AlertStatus, ResolvedReason, RuleKind
from alerts.services.grouping import alert_group_touch
from tracker.errors import FieldsInvalid
from tracker.models import ApiToken, Project
from tracker.services import audit_record

EDITABLE = ("name", "severity", "threshold", "column", "services", "environments", "enabled")


class RuleError(FieldsInvalid):
    summary = "the rule is not valid"


@transaction.atomic
def alert_rule_save(
    *,
    project: Project,
    rule: AlertRule | None = None,
    user: AbstractBaseUser | None = None,
    token: ApiToken | None = None,
    **values: object,
) -> AlertRule:
    """Create a rule (`key` and `kind` given) or change an existing one's editable fields."""
    if rule is None:
        if AlertRule.objects.filter(project=project, key=values.get("key")).exists():
            raise RuleError({"key": ["a rule with this key exists"]})
        rule = AlertRule(project=project, key=values.pop("key"), kind=values.pop("kind"))
        rule.name = str(values.pop("name", "") or RuleKind(rule.kind).label)
    for field in EDITABLE:
        if field in values:
            setattr(rule, field, values[field])
    if rule.kind == RuleKind.COLUMN_DRIFT and not rule.column:
        raise RuleError({"column": ["a column rule needs a column name or glob"]})
    created = rule.pk is None
    rule.save()
    if not rule.enabled:
        _resolve_rule_alerts(rule)
    audit_record(
        project=project,
        action="alert_rule.created" if created else "alert_rule.updated",
        user=user,
        token=token,
        target=rule,
        details={k: values[k] for k in EDITABLE if k in values},
    )
    return rule


def _resolve_rule_alerts(rule: AlertRule) -> None:
    """A disabled or deleted rule should not leave pages open."""
    now = timezone.now()
    alerts = list(Alert.objects.select_for_update().open().filter(rule=rule))
    for alert in alerts:
        alert.status, alert.resolved_at, alert.resolved_reason = AlertStatus.RESOLVED, now, ResolvedReason.RULE_REMOVED
        alert.save(update_fields=["status", "resolved_at", "resolved_reason"])
    for group in AlertGroup.objects.filter(pk__in={a.group_id for a in alerts}):
        alert_group_touch(group=group, now=now)


@transaction.atomic
def alert_rule_delete(*, rule: AlertRule, user: AbstractBaseUser | None = None, token: ApiToken | None = None) -> None:
    _resolve_rule_alerts(rule)
    audit_record(
        project=rule.project,
        action="alert_rule.deleted",
        user=user,
        token=token,
        target=rule,
        details={"key": rule.key},
    )
    rule.delete()
