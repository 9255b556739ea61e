"""The operational endpoints: /healthz for anyone, /readyz with states only, /metrics only for its scraper."""

from __future__ import annotations

import pytest
from django.db import OperationalError

pytestmark = pytest.mark.django_db

SCRAPE_TOKEN = "scrape-token-0123456789abcdef"


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_and_readiness_answer_anyone(client, path):
    assert client.get(path).status_code == 200


def test_the_prometheus_exposition_carries_the_gauges_the_apps_register(client, settings):
    settings.METRICS_TOKEN = SCRAPE_TOKEN
    # What Prometheus sends for `authorization: {type: Bearer, credentials: …}` in its scrape config.
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {SCRAPE_TOKEN}")
    assert response.status_code == 200
    body = response.content.decode()
    assert "# TYPE deploy_tracker_deploys gauge\n" in body and "\ndeploy_tracker_deploys_unprocessed 0.0\n" in body


def test_metrics_are_off_until_a_token_or_networks_are_configured(client, settings):
    """Before, anyone could read every project's deploy counts here."""
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", []
    response = client.get("/metrics")
    assert response.status_code == 404
    assert b"deploy_tracker" not in response.content


@pytest.mark.parametrize(
    "header", [None, "Bearer wrong-token", f"Basic {SCRAPE_TOKEN}", f"Bearer {SCRAPE_TOKEN}x", "Bearer"]
)
def test_metrics_without_the_token_are_a_401(client, settings, header):
    settings.METRICS_TOKEN = SCRAPE_TOKEN
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = client.get("/metrics", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"deploy_tracker" not in response.content


def test_metrics_from_outside_the_allowed_networks_are_a_403(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", ["10.0.0.0/8", "fd00::/8"]
    assert client.get("/metrics").status_code == 403  # the test client is 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="fd00::17").status_code == 200


def test_with_both_a_scrape_needs_the_network_and_the_token(client, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = SCRAPE_TOKEN, ["10.0.0.0/8"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {SCRAPE_TOKEN}"}
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 401
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.1", **auth).status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3", **auth).status_code == 200


def test_readiness_names_the_failing_part_but_not_its_exception(client, monkeypatch):
    from django.db import connection

    def refuse():
        raise OperationalError('could not connect to server at "db-primary.internal" (10.0.3.7), port 5432')

    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"]["database"] == "error"
    assert b"OperationalError" not in response.content and b"db-primary" not in response.content


def test_readiness_hides_a_broker_failure_too(client, settings, monkeypatch):
    from tracker.celery import app

    def refuse():
        raise ConnectionRefusedError("[Errno 111] Connection refused: redis.internal:6379")

    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(app, "connection_for_write", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "ok", "broker": "error"}}


def test_a_bad_allowed_network_stops_the_process_with_its_name(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    env = {
        "PATH": "/usr/bin:/bin",
        "DEBUG": "1",
        "METRICS_ALLOWED_NETWORKS": "10.0.0.0/8,intranet",
        "VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'tracker.settings'; django.setup()",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "METRICS_ALLOWED_NETWORKS" in result.stderr and "intranet" in result.stderr
