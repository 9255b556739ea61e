"""Alerts that react to other deploys by on-commit task: when that message is lost, the beat sweep repairs it.

Here the message is dropped by never running the on-commit callbacks (the services run, the task does not);
then `alerts_sweep` alone must bring the alert where the task would have.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts import services
from alerts.models import Alert
from alerts.tasks import alerts_sweep
from deployments.services import deploy_processed_mark, deploy_record
from tests.alerts.test_outbox import drifted

pytestmark = pytest.mark.django_db


def record(project, version: str, hours_ago: float, **fields):
    finished = timezone.now() - timedelta(hours=hours_ago)
    deploy, _ = deploy_record(
        project=project,
        service="fraud-scorer",
        environment="production",
        version=version,
        finished_at=finished,
        **fields,
    )
    return deploy


def firing_alert_of(deploy) -> Alert:
    [alert] = services.alerts_evaluate_deploy(deploy=deploy, facts=drifted())
    return alert


def state_of(alert: Alert) -> tuple[str, str]:
    alert.refresh_from_db()
    return alert.status, alert.resolved_reason


def test_the_sweep_resolves_the_alerts_of_a_deploy_a_later_one_replaced(project, django_capture_on_commit_callbacks):
    alert = firing_alert_of(record(project, "1", hours_ago=3))
    later = record(project, "2", hours_ago=1)
    with django_capture_on_commit_callbacks(execute=False) as dropped:
        deploy_processed_mark(deploy_id=later.pk)
    assert dropped  # the reaction was an on-commit message, and it is lost
    assert state_of(alert) == ("firing", "")
    assert alerts_sweep()["resolved"] == 1
    assert state_of(alert) == ("resolved", "superseded")
    # Idempotent: a second sweep finds nothing to do.
    assert alerts_sweep()["resolved"] == 0


def test_the_sweep_resolves_the_alerts_of_a_rolled_back_deploy_as_rolled_back(
    project, django_capture_on_commit_callbacks
):
    record(project, "1", hours_ago=5)
    alert = firing_alert_of(record(project, "2", hours_ago=3))
    with django_capture_on_commit_callbacks(execute=False):
        rollback = record(project, "1", hours_ago=1)
        deploy_processed_mark(deploy_id=rollback.pk)
    assert rollback.is_rollback and state_of(alert) == ("firing", "")
    assert alerts_sweep()["resolved"] == 1
    assert state_of(alert) == ("resolved", "rolled_back")


def test_the_sweep_leaves_alerts_no_processed_later_deploy_replaced(project, django_capture_on_commit_callbacks):
    alert = firing_alert_of(record(project, "1", hours_ago=3))
    with django_capture_on_commit_callbacks(execute=False):
        failed = record(project, "2", hours_ago=2, status="failed")
        deploy_processed_mark(deploy_id=failed.pk)
        record(project, "3", hours_ago=1)  # succeeded, but its processing (and so its reactions) not yet run
        other_environment, _ = deploy_record(
            project=project, service="fraud-scorer", environment="staging", version="4"
        )
        deploy_processed_mark(deploy_id=other_environment.pk)
    assert alerts_sweep()["resolved"] == 0
    assert state_of(alert) == ("firing", "")
