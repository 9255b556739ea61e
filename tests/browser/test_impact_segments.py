"""A person opens a canary judged beside its baseline in Chromium: the mode, both windows, the failing segment."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deployments.models import Deploy
from deployments.services import deploy_processed_mark, deploy_record
from metrics.impact.analysis import impact_compute

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _deploy(project, version, minutes_ago, **extra):
    deploy, _ = deploy_record(project=project, service="fraud-scorer", environment="production", version=version,
                              finished_at=timezone.now() - timedelta(minutes=minutes_ago), **extra)  # fmt: skip
    deploy_processed_mark(deploy_id=deploy.pk)
    return Deploy.objects.select_related("service").get(pk=deploy.pk)


def _points(values, regions, deploy):
    return [
        {"service": "fraud-scorer", "environment": "production", "name": "latency_ms", "value": float(v),
         "timestamp": (timezone.now() - timedelta(minutes=24 - 23 * i / len(values))).isoformat(),
         "labels": {"region": region}, "deploy": deploy}
        for i, (v, region) in enumerate(zip(values, regions, strict=True))
    ]  # fmt: skip


def test_the_canary_page_shows_concurrent_mode_and_names_the_degraded_region(page, live_server, login, project, api):
    _deploy(project, "1.0", 180)
    canary = _deploy(project, "1.1", 30, strategy="canary", traffic_percent=10)
    api.patch("/api/v1/services/fraud-scorer/settings", {"segment_labels": ["region"]}, format="json")
    rng = np.random.default_rng(13)
    regions = ["us-east"] * 200 + ["eu-west"] * 100
    treated = np.concatenate([rng.normal(100, 8, 200), rng.normal(150, 8, 100)])
    for values, deploy in ((rng.normal(100, 8, 300), "1.0"), (treated, "1.1")):
        body = json.dumps({"points": _points(values, regions, deploy)})
        assert api.post("/api/v1/metrics", data=body, content_type="application/json").status_code == 202
    impact_compute(deploy=canary)

    login(page, "alice", "alice-password")
    page.goto(f"{live_server.url}/{project.slug}/deploys/{canary.pk}/")

    expect(page.locator("#impact-mode")).to_contain_text("concurrent")
    expect(page.locator("#impact-current-window")).to_have_text(page.locator("#impact-baseline-window").inner_text())
    rows = page.locator("table.impact-segments tr.segment-row")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-segment", "region=eu-west")
    expect(rows.first.locator(".badge")).to_have_text("degraded")
    expect(rows.first).to_contain_text("latency_ms High")
    expect(page.locator("#impact .impact-reasons")).to_contain_text("latency_ms in region=eu-west")
