"""/metrics as Prometheus reads it: parsed with prometheus_client's own text parser.

Gauges come from the tables at scrape time; counters of events are rows every process adds to, so a
scrape answered by any gunicorn worker shows what every worker and Celery process counted.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from alerts.models import AlertStatus, ChannelKind, DeliveryStatus
from deployments.webhooks_api import REJECTION_REASONS
from rollbacks.states import RollbackState
from tests.conftest import ROOT
from tracker.counters import event_count
from tracker.models import Provider

SCRAPE_TOKEN = "scrape-token-0123456789abcdef"


def scrape(client, settings) -> dict[tuple[str, frozenset], float]:
    settings.METRICS_TOKEN = SCRAPE_TOKEN
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {SCRAPE_TOKEN}")
    assert response.status_code == 200
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


@pytest.mark.django_db
def test_every_state_and_reason_is_exported_as_zero_before_anything_happens(client, settings):
    samples = scrape(client, settings)
    for state in AlertStatus.values:
        assert value(samples, "deploy_tracker_alerts", state=state) == 0
    for state in RollbackState:
        assert value(samples, "deploy_tracker_rollback_requests", state=state.value) == 0
    for kind in ChannelKind.values:
        for status in DeliveryStatus.values:
            assert value(samples, "deploy_tracker_alert_deliveries", kind=kind, status=status) == 0
    for provider in Provider.values:
        for reason in REJECTION_REASONS:
            assert value(samples, "deploy_tracker_webhooks_rejected_total", provider=provider, reason=reason) == 0
    assert value(samples, "deploy_tracker_ingested_points_total") == 0
    assert value(samples, "deploy_tracker_ingested_rows_total") == 0
    for kind in ("metrics", "predictions"):
        assert value(samples, "deploy_tracker_ingested_batches_total", kind=kind) == 0
    task = "deployments.tasks.deploys_sweep"
    assert value(samples, "deploy_tracker_task_duration_seconds_count", task=task) == 0
    assert value(samples, "deploy_tracker_task_duration_seconds_bucket", task=task, le="+Inf") == 0
    assert value(samples, "deploy_tracker_deploys", status="failed") == 0


@pytest.mark.django_db
def test_the_gauges_count_alerts_deliveries_and_rollback_requests_by_state(client, settings, project):
    from alerts.services import alerts_evaluate_deploy, channel_create, channel_test
    from rollbacks.services import rollback_request_create
    from tests.alerts.test_outbox import drifted
    from tests.rollbacks.rollback_world import endpoint, history

    world, _ = history(project), endpoint(project)
    rollback_request_create(deploy=world.v3)
    alerts_evaluate_deploy(deploy=world.v3, facts=drifted())
    channel = channel_create(project=project, name="hook", kind="webhook", url="https://93.184.215.14/hook")[0]
    channel_test(channel=channel)
    samples = scrape(client, settings)
    assert value(samples, "deploy_tracker_rollback_requests", state="requested") == 1
    assert value(samples, "deploy_tracker_alerts", state="firing") >= 1
    assert value(samples, "deploy_tracker_alerts", state="resolved") == 0
    assert value(samples, "deploy_tracker_alert_deliveries", kind="webhook", status="pending") == 1
    assert value(samples, "deploy_tracker_deploys", status="succeeded") == 3


@pytest.mark.django_db
def test_ingested_points_rows_and_batches_count_what_was_stored_only(
    client, settings, api, project, django_capture_on_commit_callbacks
):
    finished = (timezone.now() - timedelta(hours=1)).isoformat()
    deploy = {"service": "svc", "environment": "production", "version": "1", "finished_at": finished}
    assert api.post("/api/v1/deploys", deploy, format="json").status_code == 201
    points = [{"service": "svc", "environment": "production", "name": "latency_ms", "value": v} for v in (1, 2, 3)]
    samples_body = {
        "service": "svc",
        "environment": "production",
        "columns": {"amount": [1.0, 2.0]},
        "prediction": [0.1, 0.2],
        "batch_id": "s-1",
    }
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):  # the second is a duplicate batch: stored once, counted once
            assert api.post("/api/v1/metrics", {"points": points, "batch_id": "b-1"}, format="json").status_code in (
                200,
                202,
            )
            assert api.post("/api/v1/predictions", samples_body, format="json").status_code == 202
        refused = api.post("/api/v1/metrics", {"points": [{"service": "svc", "name": "x"}]}, format="json")
        assert refused.status_code == 400
    samples = scrape(client, settings)
    assert value(samples, "deploy_tracker_ingested_points_total") == 3
    assert value(samples, "deploy_tracker_ingested_rows_total") == 2
    assert value(samples, "deploy_tracker_ingested_batches_total", kind="metrics") == 1
    assert value(samples, "deploy_tracker_ingested_batches_total", kind="predictions") == 1


@pytest.mark.django_db
def test_rejected_webhooks_count_by_provider_and_reason(client, settings, project, django_capture_on_commit_callbacks):
    signature = {"HTTP_X_HUB_SIGNATURE_256": "sha256=" + "0" * 64, "HTTP_X_GITHUB_EVENT": "deployment_status"}
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(2):
            answer = client.post(f"/api/v1/webhooks/github/{project.slug}", "{}", "application/json", **signature)
            assert answer.status_code == 401
    samples = scrape(client, settings)
    assert value(samples, "deploy_tracker_webhooks_rejected_total", provider="github", reason="signature_invalid") == 2
    assert value(samples, "deploy_tracker_webhooks_rejected_total", provider="gitlab", reason="signature_invalid") == 0


@pytest.mark.django_db
def test_task_durations_land_in_the_histogram_of_their_task(client, settings, django_capture_on_commit_callbacks):
    from deployments.tasks import deploys_sweep

    with django_capture_on_commit_callbacks(execute=True):
        deploys_sweep.delay()  # runs in-process here, with Celery's signals around it
        deploys_sweep.delay()
    samples = scrape(client, settings)
    task = "deployments.tasks.deploys_sweep"
    assert value(samples, "deploy_tracker_task_duration_seconds_count", task=task) == 2
    assert value(samples, "deploy_tracker_task_duration_seconds_bucket", task=task, le="+Inf") == 2
    assert 0 < value(samples, "deploy_tracker_task_duration_seconds_sum", task=task) < 60
    # Cumulative buckets, as Prometheus expects them.
    buckets = sorted(
        (float(dict(labels)["le"]), count)
        for (name, labels), count in samples.items()
        if name == "deploy_tracker_task_duration_seconds_bucket" and dict(labels)["task"] == task
    )
    assert len(buckets) == 13 and [count for _, count in buckets] == sorted(count for _, count in buckets)


@pytest.mark.services
def test_counts_from_several_processes_add_up_in_any_processs_scrape(
    client, settings, transactional_db, _celery_worker_env
):
    """What a gunicorn worker or a Celery process counts, the process answering the scrape shows."""
    code = (
        "import django; django.setup()\n"
        "from tracker.counters import event_count\n"
        "for _ in range(2): event_count('deploy_tracker_webhooks_rejected', provider='gitlab', reason='invalid')\n"
    )
    env = {**_celery_worker_env, "DJANGO_SETTINGS_MODULE": "tracker.settings"}
    for _ in range(2):
        subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, check=True, timeout=60)
    event_count("deploy_tracker_webhooks_rejected", provider="gitlab", reason="invalid")
    samples = scrape(client, settings)
    assert value(samples, "deploy_tracker_webhooks_rejected_total", provider="gitlab", reason="invalid") == 5


@pytest.mark.services
def test_a_real_workers_task_durations_show_in_the_web_processs_scrape(client, settings, api, celery_worker_process):
    from tests.helpers import wait_until

    deploy = {"service": "svc", "environment": "production", "version": "1", "status": "succeeded"}
    assert api.post("/api/v1/deploys", deploy, format="json").status_code == 201
    task = "deployments.tasks.deploy_process"
    wait_until(lambda: value(scrape(client, settings), "deploy_tracker_task_duration_seconds_count", task=task) >= 1)
