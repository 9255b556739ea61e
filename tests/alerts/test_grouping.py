"""Grouping through the database with a frozen clock (acceptance 3): what reaches the outbox, and when."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from alerts import services
from alerts.models import AlertGroup, AlertRule, Delivery, Silence
from alerts.rules import ColumnFact, DeployFacts
from deployments.services import deploy_record
from tests.receiver import Receiver

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def drifted() -> DeployFacts:
    columns = tuple(ColumnFact(f"f{i:02}", "feature", "drifted", 2.0) for i in range(20))
    return DeployFacts(columns=columns, has_drift_report=True)


def tick(now: datetime) -> list[Delivery]:
    """What the beat sweep does: flush every due group."""
    created = []
    for group in AlertGroup.objects.filter(next_flush_at__lte=now):
        if services.alert_group_claim(group_id=group.pk, now=now):
            created += services.alert_group_flush(group_id=group.pk, now=now)
    return created


@pytest.fixture
def world(project):
    with Receiver() as receiver:
        services.channel_create(project=project, name="hook", kind="webhook", url=receiver.url())
        with time_machine.travel(T0 - timedelta(minutes=10), tick=False):
            deploy, _ = deploy_record(project=project, service="fraud-scorer", environment="production", version="9")
        yield project, deploy


def test_twenty_alerts_of_one_group_make_one_notification(world) -> None:
    project, deploy = world
    for i in range(20):
        AlertRule.objects.create(
            project=project, key=f"col-{i}", name=f"f{i:02}", kind="column_drift", column=f"f{i:02}"
        )
    with time_machine.travel(T0, tick=False):
        opened = services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=T0)
    assert len(opened) == 21  # twenty column rules and the drift share rule
    assert tick(T0 + timedelta(seconds=29)) == []
    [delivery] = tick(T0 + timedelta(seconds=30))
    assert len(delivery.payload["alerts"]) == 21
    assert tick(T0 + timedelta(minutes=5, seconds=30)) == []


def test_a_flap_inside_group_wait_sends_nothing(world) -> None:
    _, deploy = world
    [alert] = services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=T0)
    services.alert_resolve(alert=alert, now=T0 + timedelta(seconds=10))
    for seconds in range(0, 600, 5):
        assert tick(T0 + timedelta(seconds=seconds)) == []


def test_it_repeats_after_repeat_interval_and_not_before(world) -> None:
    _, deploy = world
    services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=T0)
    first = T0 + timedelta(seconds=30)
    assert [d.reason for d in tick(first)] == ["firing"]
    sent = []
    for minutes in range(5, 4 * 60 + 1, 5):
        sent += tick(first + timedelta(minutes=minutes))
    assert [(d.reason, d.created_at >= first) for d in sent] == [("repeat", True)]
    assert AlertGroup.objects.get().last_notified_at == first + timedelta(hours=4)


def test_a_silence_suppresses_the_notification(world) -> None:
    project, deploy = world
    with time_machine.travel(T0 - SECOND, tick=False):
        services.silence_create(project=project, matchers=["service=fraud-scorer"], ends_at=T0 + timedelta(hours=2))
    services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=T0)
    for minutes in range(0, 115, 5):
        assert tick(T0 + timedelta(minutes=minutes, seconds=30)) == []
    # When the silence ends the still-firing alert is told on the next tick.
    assert [d.reason for d in tick(T0 + timedelta(hours=2, minutes=5, seconds=30))] == ["firing"]


def test_a_stored_silence_whose_pattern_re2_refuses_mutes_nothing(world) -> None:
    """A backreference was accepted before matchers were RE2: such a silence must not crash the flush or mute."""
    project, deploy = world
    Silence.objects.create(
        project=project,
        matchers=[{"name": "service", "op": "=~", "value": r"(fraud)-scorer|\1"}],
        starts_at=T0 - timedelta(hours=1),
        ends_at=T0 + timedelta(hours=2),
    )
    services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=T0)
    assert [d.reason for d in tick(T0 + timedelta(seconds=30))] == ["firing"]


def test_a_rollback_resolves_and_the_group_says_so(world, django_capture_on_commit_callbacks) -> None:
    project, deploy = world
    with time_machine.travel(T0 - timedelta(hours=2), tick=False):
        deploy_record(project=project, service="fraud-scorer", environment="production", version="8")
    services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=T0)
    tick(T0 + timedelta(seconds=30))
    with time_machine.travel(T0 + timedelta(minutes=2), tick=False), django_capture_on_commit_callbacks(execute=True):
        deploy_record(project=project, service="fraud-scorer", environment="production", version="8")
    [resolved] = tick(T0 + timedelta(minutes=5, seconds=30))
    assert (resolved.reason, resolved.event_action) == ("resolved", "resolve")
    assert resolved.payload["resolved"][0]["deploy_id"] == str(deploy.pk)
