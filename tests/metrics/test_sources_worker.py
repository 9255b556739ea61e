"""With a real Celery worker and a real Prometheus: the test query and the judgment run in the worker, never in
the web request that asks for them."""

from __future__ import annotations

import pytest

from deployments.models import Deploy
from metrics.impact.models import ImpactReport
from tests.helpers import wait_until
from tests.metrics.test_sources_prometheus import World, _query, _source
from tests.prometheus_server import PrometheusServer

pytestmark = [pytest.mark.services, pytest.mark.prometheus, pytest.mark.django_db(transaction=True)]


def test_the_worker_answers_the_test_query_and_judges_the_deploy(api, project, tmp_path, celery_worker_process):
    world = World()
    with PrometheusServer(tmp_path, world.series()) as prometheus:
        source = _source(api, prometheus.url, [_query()])
        for version, at in (("1.0", world.baseline_at), ("1.1", world.current_at)):
            body = {"service": "fraud-scorer", "environment": "production", "version": version,
                    "finished_at": at.isoformat()}  # fmt: skip
            assert api.post("/api/v1/deploys", body, format="json").status_code == 201
        queued = api.post(f"/api/v1/metric-sources/{source['id']}/test")
        assert queued.status_code == 202 and queued.json()["test"]["result"] is None

        def tested():
            return api.get(f"/api/v1/metric-sources/{source['id']}").json()["test"]["result"]

        result = wait_until(tested, timeout=60)
        assert result["first_error"] == "" and result["queries"][0]["series"] == 1
        current = Deploy.objects.get(version="1.1")
        report = wait_until(lambda: ImpactReport.objects.filter(deploy=current, final=True).first(), timeout=60)
    assert report.verdict == "degraded"
    assert report.metrics[0]["source"]["name"] == "prod-prometheus"
