"""End to end with a real Celery worker via Redis: post deploys and points over HTTP, read the gate's verdict."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone

from deployments.models import Deploy
from metrics.impact.models import ImpactReport
from metrics.impact.tasks import impacts_sweep
from tests.helpers import wait_until
from tests.metrics.stored import stored_count

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def _deploy(api, version, minutes_ago):
    finished = (timezone.now() - timedelta(minutes=minutes_ago)).isoformat()
    body = {"service": "fraud-scorer", "environment": "production", "version": version, "finished_at": finished}
    response = api.post("/api/v1/deploys", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 201, response.content
    deploy_id = response.json()["id"]
    wait_until(lambda: Deploy.objects.filter(pk=deploy_id).exclude(processed_at=None).exists())
    return deploy_id


def _points(baseline_values, current_values):
    def point(value, minutes_ago):
        stamp = (timezone.now() - timedelta(minutes=minutes_ago)).isoformat()
        return {"service": "fraud-scorer", "environment": "production", "name": "latency_ms", "value": float(value),
                "timestamp": stamp}  # fmt: skip

    base = [point(v, 80 - 49 * i / len(baseline_values)) for i, v in enumerate(baseline_values)]
    cur = [point(v, 24 - 23 * i / len(current_values)) for i, v in enumerate(current_values)]
    return base + cur


def test_a_real_worker_judges_posted_points_and_the_gate_answers(api, project, celery_worker_process):
    _deploy(api, "1.0", 180)
    current = _deploy(api, "1.1", 30)
    rng = np.random.default_rng(5)
    body = {"points": _points(rng.normal(100, 8, 300), rng.normal(125, 8, 300)), "batch_id": "e2e-1"}
    response = api.post("/api/v1/metrics", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 202

    def verdict():
        gate = api.get(f"/api/v1/deploys/{current}/verdict").json()
        return gate if gate["verdict"] == "degraded" else None

    gate = wait_until(verdict, timeout=60)
    assert gate["score"] == 0.0 and gate["final"] is False
    assert any("latency_ms: significantly higher than baseline" in reason for reason in gate["reasons"])
    report = api.get(f"/api/v1/deploys/{current}/impact").json()
    assert (report["metrics"][0]["n_baseline"], report["metrics"][0]["n_current"]) == (300, 300)


def test_the_sweep_recomputes_a_deploy_whose_message_was_lost(api, project, celery_worker_process):
    _deploy(api, "1.0", 180)
    current = _deploy(api, "1.1", 30)
    wait_until(lambda: ImpactReport.objects.filter(deploy_id=current).exclude(computed_at=None).exists())
    # Points stored while a message counts as sent: none goes out; then that message counts as lost.
    ImpactReport.objects.filter(deploy_id=current).update(sent_at=timezone.now())
    rng = np.random.default_rng(6)
    body = {"points": _points(rng.normal(100, 8, 200), rng.normal(100, 8, 200))}
    assert api.post("/api/v1/metrics", data=json.dumps(body), content_type="application/json").status_code == 202
    assert stored_count() == 400
    assert ImpactReport.objects.get(deploy_id=current).verdict == "insufficient_data"

    assert impacts_sweep() == 0  # the lease of the message sent is not over
    ImpactReport.objects.filter(deploy_id=current).update(sent_at=timezone.now() - timedelta(minutes=2))
    assert impacts_sweep() >= 1
    wait_until(lambda: ImpactReport.objects.filter(deploy_id=current, verdict="healthy").exists(), timeout=60)


def _canary_points(version, values, start_ago, end_ago):
    step = (start_ago - end_ago) / len(values)
    return [
        {"service": "fraud-scorer", "environment": "production", "name": "latency_ms", "value": float(v),
         "timestamp": (timezone.now() - timedelta(minutes=start_ago - step * i)).isoformat(), "deploy": version}
        for i, v in enumerate(values)
    ]  # fmt: skip


def test_a_real_worker_judges_a_canary_beside_its_baseline_and_the_settings_force_sequential(
    api, project, celery_worker_process
):
    """A global spike hits both arms in the window: concurrently healthy; the same data judged sequentially
    (the mode forced through the settings API, recomputed by the sweep) is degraded. A regression in the
    canary alone is degraded concurrently."""
    _deploy(api, "1.0", 180)
    finished = (timezone.now() - timedelta(minutes=30)).isoformat()
    body = {"service": "fraud-scorer", "environment": "production", "version": "1.1", "finished_at": finished,
            "strategy": "canary", "traffic_percent": 10}  # fmt: skip
    canary = api.post("/api/v1/deploys", data=json.dumps(body), content_type="application/json").json()["id"]
    wait_until(lambda: Deploy.objects.filter(pk=canary).exclude(processed_at=None).exists())
    rng = np.random.default_rng(14)
    points = _canary_points("1.0", rng.normal(100, 8, 300), 80, 31)
    points += _canary_points("1.0", rng.normal(160, 10, 400), 24, 1) + _canary_points(
        "1.1", rng.normal(160, 10, 200), 24, 1
    )
    assert (
        api.post("/api/v1/metrics", data=json.dumps({"points": points}), content_type="application/json").status_code
        == 202
    )

    def report(mode, verdict):
        def check():
            body = api.get(f"/api/v1/deploys/{canary}/impact").json()
            return body if (body["mode"], body["verdict"]) == (mode, verdict) else None

        return wait_until(check, timeout=60)

    concurrent = report("concurrent", "healthy")
    assert (concurrent["metrics"][0]["n_baseline"], concurrent["metrics"][0]["n_current"]) == (400, 200)
    assert concurrent["baseline_window"] == concurrent["current_window"]

    # Changing the settings asks for the service's open reports to be judged again: no new data needed.
    settings = {"impact_mode": "sequential"}
    assert api.patch("/api/v1/services/fraud-scorer/settings", settings, format="json").status_code == 200
    sequential = report("sequential", "degraded")
    assert sequential["metrics"][0]["n_baseline"] == 300
    assert sequential["baseline_window"]["end"] < sequential["current_window"]["start"]

    # Back to auto, and the canary alone regresses: degraded, judged concurrently.
    assert api.patch("/api/v1/services/fraud-scorer/settings", {"impact_mode": None}, format="json").status_code == 200
    regression = _canary_points("1.1", rng.normal(260, 10, 400), 20, 2)
    assert (
        api.post(
            "/api/v1/metrics", data=json.dumps({"points": regression}), content_type="application/json"
        ).status_code
        == 202
    )
    impacts_sweep()
    degraded = report("concurrent", "degraded")
    assert degraded["metrics"][0]["classification"] == "High"
