"""Receivers: alerts follow projects, deploys and reports without those apps importing alerts.

Each one only enqueues the task that does the work (after the sender commits), except where a comment
says why the reaction is part of the sender's write.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from alerts import tasks
from deployments.models import Deploy
from deployments.signals import deploy_processed, deploys_rolled_back
from metrics.drift.signals import drift_report_computed
from metrics.impact.signals import impact_report_computed
from tracker.enqueue import enqueue
from tracker.models import Project


@receiver(post_save, sender=Project, dispatch_uid="alerts.project_created")
def project_created(sender: type[Project], instance: Project, created: bool, raw: bool = False, **_: Any) -> None:
    from alerts.services import alert_rules_create_defaults

    # Atomic with the project's creation: no project (and no page or API call) ever sees it without its rules.
    if created and not raw:
        alert_rules_create_defaults(project=instance)


@receiver(deploys_rolled_back, dispatch_uid="alerts.deploys_undone")
def deploys_undone(sender: Any, rollback: Deploy, undone_ids: list[int], **_: Any) -> None:
    """The rolled-back deploys' alerts resolve once the rollback is stored."""
    enqueue(tasks.alerts_resolve_undone, list(undone_ids))


@receiver(deploy_processed, dispatch_uid="alerts.deploy_replaced_earlier")
def deploy_replaced_earlier(sender: Any, deploy: Deploy, **_: Any) -> None:
    enqueue(tasks.alerts_resolve_replaced, deploy.pk)


@receiver(deploy_processed, dispatch_uid="alerts.deploy_statuses")
def deploy_statuses(sender: Any, deploy: Deploy, **_: Any) -> None:
    """A new deploy has a verdict (pending, or rollback) to write back, and may be a change to tell PagerDuty."""
    enqueue(tasks.statuses_write, deploy.pk)
    enqueue(tasks.change_events_send, deploy.pk)


@receiver(impact_report_computed, dispatch_uid="alerts.verdict_statuses")
def verdict_statuses(sender: Any, report: Any, **_: Any) -> None:
    """A new impact report may change the verdict: write it back where it changed."""
    enqueue(tasks.statuses_write, report.deploy_id)


@receiver(impact_report_computed, dispatch_uid="alerts.impact_report")
@receiver(drift_report_computed, dispatch_uid="alerts.drift_report")
def report_stored(sender: Any, report: Any, **_: Any) -> None:
    """An impact or drift report was stored: judge the rules once it is committed."""
    enqueue(tasks.alerts_evaluate, report.deploy_id)
