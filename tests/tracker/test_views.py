from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_the_operational_endpoints_answer(client, db, path):
    response = client.get(path)
    assert response.status_code == 200


def test_the_prometheus_exposition_carries_the_gauges_the_apps_register(client, db):
    body = client.get("/metrics").content.decode()
    assert "# TYPE deploy_tracker_deploys gauge\n" in body and body.endswith("deploy_tracker_deploys_unprocessed 0\n")
