"""API answers composed from several apps."""

from __future__ import annotations


def test_one_deploy_carries_its_impact_and_drift_summaries(api, project):
    event = {"service": "fraud-scorer", "environment": "production", "version": "2026.11.3"}
    deploy_id = api.post("/api/v1/deploys", event, format="json").json()["id"]
    body = api.get(f"/api/v1/deploys/{deploy_id}").json()
    assert body["impact"]["verdict"] in ("pending", "insufficient_data")
    assert body["impact"]["final"] is False
    assert body["drift"] is None or "drift_share" in body["drift"]
