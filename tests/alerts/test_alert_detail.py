"""The alert page: its deliveries and attempts, the silences that match, what happened — in a number of
queries that does not grow with the deliveries; another project's alert is a 404 (the isolation matrix)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from alerts.models import Delivery, DeliveryAttempt
from alerts.rules import ColumnFact, DeployFacts
from alerts.selectors import alert_detail
from alerts.services import alert_acknowledge, alerts_evaluate_deploy, channel_create, silence_create
from deployments.services import deploy_record

pytestmark = pytest.mark.django_db


@pytest.fixture
def alert(project):
    deploy, _ = deploy_record(project=project, service="svc", environment="production", version="1.0")
    columns = tuple(ColumnFact(f"f{i}", "feature", "drifted", 2.0) for i in range(3))
    [alert] = alerts_evaluate_deploy(deploy=deploy, facts=DeployFacts(columns, has_drift_report=True))
    return alert


def _deliveries(alert, n: int, carried: bool = True) -> None:
    channel = channel_create(project=alert.project, name=f"hook-{n}-{carried}", kind="webhook",
                             url="https://93.184.215.14/hook")[0]  # fmt: skip
    now = timezone.now()
    for i in range(n):
        delivery = Delivery.objects.create(
            project=alert.project, channel=channel, group=alert.group, alert_ids=[alert.pk] if carried else [],
            reason="firing", event_action="trigger", next_attempt_at=now, status="failed", last_error="HTTP 500",
        )  # fmt: skip
        for number in (1, 2):
            DeliveryAttempt.objects.create(
                delivery=delivery, number=number, at=now + timedelta(seconds=i), status_code=500
            )


def _queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(path).status_code == 200
    return len(ctx.captured_queries)


def test_the_alert_page_costs_the_same_queries_with_one_delivery_or_many(client, vera, alert):
    client.force_login(vera)
    path = f"/{alert.project.slug}/alerts/{alert.pk}/"
    _deliveries(alert, 1)
    few = _queries(client, path)
    _deliveries(alert, 6)
    silence_create(project=alert.project, matchers=["service=svc"], ends_at=timezone.now() + timedelta(hours=1))
    assert _queries(client, path) == few


def test_only_the_deliveries_that_carried_the_alert_and_the_silences_that_match_it_are_listed(project, alert):
    _deliveries(alert, 2)
    _deliveries(alert, 3, carried=False)  # the same group's notifications of other alerts
    now = timezone.now()
    silence_create(
        project=project, matchers=["service=svc", "severity=~err.*|crit.*"], ends_at=now + timedelta(hours=1)
    )
    silence_create(project=project, matchers=["service=other"], ends_at=now + timedelta(hours=1))
    alert_acknowledge(alert=alert, user=None)
    detail = alert_detail(project=project, alert_id=alert.pk, now=timezone.now())  # the silences have started
    assert len(detail.deliveries) == 2 and all(len(d.attempt_log.all()) == 2 for d in detail.deliveries)
    assert [str(s) for s in detail.silences] == ["service=svc, severity=~err.*|crit.*"] and detail.silenced
    assert [e.what for e in detail.timeline][:1] == ["Fired"]
    assert "Acknowledged" in [e.what for e in detail.timeline]
    assert [e.what for e in detail.timeline].count("Notification failed") == 2


def test_another_projects_alert_is_not_found(project, other_project, alert):
    assert alert_detail(project=other_project, alert_id=alert.pk, now=timezone.now()) is None


def test_a_channel_whose_deliveries_keep_failing_says_so_on_the_settings_page(client, alice, project):
    channel = channel_create(project=project, name="hook", kind="webhook", url="https://93.184.215.14/hook")[0]
    client.force_login(alice)
    path = f"/{project.slug}/alerts/settings/"
    assert 'class="badge state-ok">enabled' in client.get(path).content.decode()
    type(channel).objects.filter(pk=channel.pk).update(consecutive_failures=3)
    html = client.get(path).content.decode()
    assert 'class="badge state-failing">failing' in html and "3 failures in a row" in html
    assert 'class="badge state-ok">enabled' not in html
