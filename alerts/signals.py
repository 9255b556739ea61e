"""Receivers: alerts follow projects, deploys and reports without those apps importing alerts."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save

from alerts.models import ResolvedReason
from deployments.models import Deploy
from deployments.signals import deploy_processed, deploys_rolled_back
from metrics.drift.signals import drift_report_computed
from metrics.impact.signals import impact_report_computed
from tracker.models import Project


def project_created(sender: type[Project], instance: Project, created: bool, raw: bool = False, **_: Any) -> None:
    from alerts.services import alert_rules_create_defaults

    if created and not raw:
        alert_rules_create_defaults(project=instance)


def deploys_undone(sender: Any, rollback: Deploy, restored: Deploy, undone_ids: list[int], **_: Any) -> None:
    """Inside the recording transaction: the rolled-back deploys' alerts resolve with it."""
    from alerts.services import alerts_resolve_for_deploys

    alerts_resolve_for_deploys(deploy_ids=undone_ids, reason=ResolvedReason.ROLLED_BACK)


def deploy_replaced_earlier(sender: Any, deploy: Deploy, **_: Any) -> None:
    from alerts.services import alerts_resolve_superseded

    alerts_resolve_superseded(deploy=deploy)


def report_stored(sender: Any, report: Any, **_: Any) -> None:
    """An impact or drift report was stored: judge the rules once it is committed."""
    from alerts.tasks import enqueue_evaluation

    enqueue_evaluation(report.deploy_id)


def connect() -> None:
    post_save.connect(project_created, sender=Project, dispatch_uid="alerts.project_created")
    deploys_rolled_back.connect(deploys_undone, dispatch_uid="alerts.deploys_undone")
    deploy_processed.connect(deploy_replaced_earlier, dispatch_uid="alerts.deploy_replaced_earlier")
    impact_report_computed.connect(report_stored, dispatch_uid="alerts.impact_report")
    drift_report_computed.connect(report_stored, dispatch_uid="alerts.drift_report")
