"""End to end with the real Celery worker: deploys and samples in, a drift report out through the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tests.helpers import wait_until


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
