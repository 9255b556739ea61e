"""Alert rules as settings: create, change, disable and delete them (admin only)."""

from __future__ import annotations

from enum import Enum

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from alerts.models import Alert, AlertGroup, AlertRule, AlertStatus, ResolvedReason, RuleKind
from alerts.services.grouping import alert_group_touch
from tracker.errors import FieldsInvalid
from tracker.models import ApiToken, Project
from tracker.services import audit_record


class Keep(Enum):
    """A keyword left at KEEP leaves the rule's stored value as it is (so `threshold=None` can clear it)."""

    KEEP = "keep"


KEEP = Keep.KEEP


class RuleError(FieldsInvalid):
    summary = "the rule is not valid"


@transaction.atomic
def alert_rule_save(
    *,
    project: Project,
    rule: AlertRule | None = None,
    key: str | None = None,
    kind: str | None = None,
    name: str | Keep = KEEP,
    severity: str | Keep = KEEP,
    threshold: float | Keep | None = KEEP,
    column: str | Keep = KEEP,
    services: list[str] | Keep = KEEP,
    environments: list[str] | Keep = KEEP,
    enabled: bool | Keep = KEEP,
    user: AbstractBaseUser | None = None,
    token: ApiToken | None = None,
) -> AlertRule:
    """Create a rule (`key` and `kind` given, no `rule`) or change the given fields of an existing one."""
    editable = {
        "name": name, "severity": severity, "threshold": threshold, "column": column,
        "services": services, "environments": environments, "enabled": enabled,
    }  # fmt: skip
    changes = {field: value for field, value in editable.items() if value is not KEEP}
    if rule is None:
        if AlertRule.objects.filter(project=project, key=key).exists():
            raise RuleError({"key": ["a rule with this key exists"]})
        rule = AlertRule(project=project, key=key, kind=kind)
        rule.name = str(changes.pop("name", "") or RuleKind(rule.kind).label)
    for field, value in changes.items():
        setattr(rule, field, value)
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
        details=changes,
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
