"""End to end with the real Celery worker: deploys and samples in, a drift report out through the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tests.helpers import wait_until
from tests.metrics.test_fairness import BASELINE, CURRENT


def samples(deploy_version: str, seed: int, shift: float) -> str:
    gen = np.random.default_rng(seed)
    n = 1500
    return json.dumps(
        {
            "service": "fraud-scorer",
            "environment": "production",
            "deploy": deploy_version,
            "columns": {
                "amount": gen.normal(50 + shift, 10, n).round(3).tolist(),
                "country": gen.choice(["DE", "FR", "IT"], n).tolist(),
            },
            "prediction": gen.random(n).round(4).tolist(),
        }
    )


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_worker_turns_posted_deploys_and_samples_into_a_drift_report(api, celery_worker_process):
    start = datetime.now(UTC) - timedelta(minutes=30)
    for version, finished in (("1.0", start), ("1.1", start + timedelta(minutes=10))):
        body = {"service": "fraud-scorer", "environment": "production", "version": version}
        response = api.post("/api/v1/deploys", {**body, "finished_at": finished.isoformat()}, format="json")
        assert response.status_code == 201
    current_id = response.json()["id"]
    for version, seed, shift in (("1.0", 1, 0.0), ("1.1", 2, 8.0)):
        response = api.post("/api/v1/predictions", samples(version, seed, shift), content_type="application/json")
        assert response.status_code == 202, response.content

    def report_with_drift():
        body = api.get(f"/api/v1/deploys/{current_id}/drift").json()
        return body if body.get("status") == "ok" and body.get("n_columns") == 3 else None

    report = wait_until(report_with_drift, timeout=60)
    columns = {c["column"]: c for c in report["columns"]}
    assert columns["amount"]["verdict"] == "drifted" and columns["amount"]["method"] == "wasserstein"
    assert columns["country"]["verdict"] == "stable" and columns["prediction"]["verdict"] == "stable"
    assert (columns["amount"]["n_ref"], columns["amount"]["n_cur"]) == (1500, 1500)
    assert report["n_drifted"] == 1 and report["dataset_drift"] is False


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_the_worker_finds_a_deploy_unfair_where_its_baseline_was_not_and_the_alert_opens(api, celery_worker_process):
    start = datetime.now(UTC) - timedelta(minutes=30)
    for version, finished in (("1.0", start), ("1.1", start + timedelta(minutes=10))):
        body = {"service": "fraud-scorer", "environment": "production", "version": version}
        response = api.post("/api/v1/deploys", {**body, "finished_at": finished.isoformat()}, format="json")
        assert response.status_code == 201
    current_id = response.json()["id"]
    settings = api.patch("/api/v1/services/fraud-scorer/settings", {"sensitive_columns": ["gender"]}, format="json")
    assert settings.status_code == 200, settings.content
    for version, rows in (("1.0", BASELINE), ("1.1", CURRENT)):
        body = {
            "service": "fraud-scorer",
            "environment": "production",
            "deploy": version,
            "columns": {"gender": [r[0] for r in rows]},
            "prediction": [r[1] for r in rows],
            "label": [r[2] for r in rows],
        }
        response = api.post("/api/v1/predictions", body, format="json")
        assert response.status_code == 202, response.content

    def unfair_alert():
        alerts = api.get("/api/v1/alerts", {"status": "open"}).json()["results"]
        return next((a for a in alerts if a["kind"] == "unfair"), None)

    alert = wait_until(unfair_alert, timeout=60)
    assert alert["title"] == "Unfair: gender disparate impact 0.67 (baseline 0.91)"
    report = api.get(f"/api/v1/deploys/{current_id}/drift").json()
    [gender] = report["fairness"]["columns"]
    assert (gender["verdict"], gender["crossed"]) == ("unfair", True)
    assert gender["current"]["disparate_impact"] == pytest.approx(0.40 / 0.60, abs=1e-12)
