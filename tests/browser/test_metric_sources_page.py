"""An admin connects a real Prometheus on the settings page, clicks "Test query" and reads the result."""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import expect

from deployments.services import deploy_processed_mark, deploy_record
from tests.metrics.test_sources_prometheus import LATENCY, World
from tests.prometheus_server import PrometheusServer

pytestmark = [pytest.mark.browser, pytest.mark.prometheus, pytest.mark.django_db(transaction=True)]


def test_an_admin_connects_prometheus_and_runs_a_test_query(page, live_server, login, alice, project, tmp_path):
    world = World()
    for version, at in (("1.0", world.baseline_at), ("1.1", world.current_at)):
        deploy, _ = deploy_record(project=project, service="fraud-scorer", environment="production", version=version,
                                  finished_at=at)  # fmt: skip
        deploy_processed_mark(deploy_id=deploy.pk)
    queries = [{"service": "fraud-scorer", "name": "latency_ms", "query": LATENCY, "step_seconds": 15}]
    with PrometheusServer(tmp_path, world.series()) as prometheus:
        login(page, "alice", "alice-password")
        page.goto(f"{live_server.url}/{project.slug}/settings/")
        page.click("text=Manage metric sources")
        page.fill("input[name=name]", "prod-prometheus")
        page.fill("input[name=url]", prometheus.url)
        page.fill("textarea[name=queries]", json.dumps(queries))
        page.click("#metric-source-form button[type=submit]")
        card = page.locator("section[data-source]")
        expect(card).to_contain_text("prod-prometheus")
        expect(card).to_contain_text("not queried yet")
        card.locator("text=Test query (last hour)").click()
        # The form posts and redirects back; reloading before that navigation ends detaches the page.
        landed = re.compile("waiting for the worker|Test over the last hour")
        expect(card.locator("[data-test]")).to_contain_text(landed)
        deadline = time.monotonic() + 30
        while not card.locator("[data-series]").count() and time.monotonic() < deadline:
            time.sleep(0.3)
            page.reload()
        expect(card.locator("[data-series]")).to_have_text("1")
        assert 200 <= int(card.locator("[data-samples]").inner_text()) <= 241
        expect(card).to_contain_text("no error")
        expect(card).to_contain_text("up")
        page.goto(f"{live_server.url}/{project.slug}/settings/")
        expect(page.locator("#metric-sources")).to_contain_text("prod-prometheus")
