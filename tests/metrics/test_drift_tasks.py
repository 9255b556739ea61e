"""Drift tasks: the claim makes a recomputation idempotent; the sweep refreshes, finalises and resends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.utils import timezone

from deployments.models import Deploy
from deployments.services import deploy_processed_mark
from metrics.drift import tasks
from metrics.drift.models import DriftReport
from metrics.drift.signals import drift_report_computed

pytestmark = pytest.mark.django_db


def post_deploy(api, version: str, at: datetime) -> Deploy:
    body = {"service": "fraud-scorer", "environment": "production", "version": version, "finished_at": at.isoformat()}
    response = api.post("/api/v1/deploys", body, format="json")
    deploy_processed_mark(deploy_id=response.json()["id"])
    return Deploy.objects.get(pk=response.json()["id"])


def post_samples(api, deploy: Deploy, seed: int) -> None:
    gen = np.random.default_rng(seed)
    body = {
        "service": "fraud-scorer",
        "environment": "production",
        "deploy": deploy.pk,
        "columns": {"amount": gen.normal(size=200).tolist()},
        "prediction": gen.random(200).tolist(),
    }
    response = api.post("/api/v1/predictions", json.dumps(body), content_type="application/json")
    assert response.status_code == 202


@pytest.fixture
def pair(api) -> tuple[Deploy, Deploy]:
    now = datetime.now(UTC)
    baseline = post_deploy(api, "1.0", now - timedelta(hours=3))
    current = post_deploy(api, "1.1", now - timedelta(minutes=10))
    post_samples(api, baseline, 1)
    post_samples(api, current, 2)
    return baseline, current


def test_the_task_computes_a_due_report_once_and_tells_listeners(pair):
    _, current = pair
    heard = []

    def listener(sender, report, **kwargs):
        heard.append(report.deploy_id)

    drift_report_computed.connect(listener)
    try:
        tasks.drift_compute(current.pk)
        tasks.drift_compute(current.pk)  # a duplicate message: nothing due any more
    finally:
        drift_report_computed.disconnect(listener)
    report = DriftReport.objects.get(deploy=current)
    assert report.status == "ok" and report.n_columns == 2 and report.due_at is None
    assert heard == [current.pk]
    assert not report.final  # ten minutes into a sixty-minute window


def test_the_sweep_refreshes_reports_in_their_window_and_resends_lost_ones(pair):
    # Tests run Celery eagerly: what the sweep sends is computed at once.
    baseline, current = pair
    for deploy in pair:
        tasks.drift_compute(deploy.pk)
    DriftReport.objects.filter(deploy=baseline).update(final=True)
    stale = timezone.now() - timedelta(minutes=2)
    DriftReport.objects.filter(deploy=current).update(computed_at=stale)
    assert tasks.drift_sweep() == 1  # the current deploy's report is stale; the final one is left alone
    assert DriftReport.objects.get(deploy=current).computed_at > stale
    just_due = timezone.now()
    DriftReport.objects.filter(deploy=current).update(due_at=just_due)
    assert tasks.drift_sweep() == 0  # due, and its message is not late yet
    assert DriftReport.objects.get(deploy=current).due_at == just_due
    DriftReport.objects.filter(deploy=current).update(due_at=timezone.now() - timedelta(minutes=5))
    assert tasks.drift_sweep() == 1  # lost: sent again, and computed
    assert DriftReport.objects.get(deploy=current).due_at is None


def test_a_report_computed_after_the_window_is_final(pair, settings):
    _, current = pair
    Deploy.objects.filter(pk=current.pk).update(deployed_at=timezone.now() - timedelta(hours=2))
    tasks.drift_compute(current.pk)
    assert DriftReport.objects.get(deploy=current).final


def test_the_sweep_sends_the_longest_unrefreshed_reports_first_and_is_bounded_by_time(pair, monkeypatch):
    baseline, current = pair
    DriftReport.objects.update(final=False, due_at=None)
    DriftReport.objects.filter(deploy=current).update(computed_at=timezone.now() - timedelta(minutes=30))
    DriftReport.objects.filter(deploy=baseline).update(computed_at=timezone.now() - timedelta(minutes=2))
    sent = []
    monkeypatch.setattr(tasks, "send_now", lambda task, deploy_id: sent.append(deploy_id))
    monkeypatch.setattr(tasks, "SWEEP_CHUNK", 1)
    monkeypatch.setattr(tasks, "SWEEP_BUDGET", timedelta(0))
    assert tasks.drift_sweep() == 1  # its time is up after one chunk: the one waiting longest
    assert sent == [current.pk]
    monkeypatch.setattr(tasks, "SWEEP_BUDGET", timedelta(seconds=20))
    assert tasks.drift_sweep() == 1  # the next sweep goes on with the rest (the sent one waits for its worker)
    assert sent == [current.pk, baseline.pk]
