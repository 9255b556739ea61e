"""Compare any two deploys in Chromium: picked from the picker (different services and environments), the page
shows both verdicts, every differing parameter flagged, and one chart per metric with both deploys drawn."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deployments.models import Deploy
from deployments.services import deploy_processed_mark, deploy_record
from metrics.impact.analysis import impact_compute

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _deploy(project, service, environment, version, minutes_ago, **fields) -> Deploy:
    deploy, _ = deploy_record(
        project=project,
        service=service,
        environment=environment,
        version=version,
        finished_at=timezone.now() - timedelta(minutes=minutes_ago),
        **fields,
    )
    deploy_processed_mark(deploy_id=deploy.pk)
    return Deploy.objects.select_related("service").get(pk=deploy.pk)


def _post(api, service, environment, mean, minutes_ago, seed) -> None:
    rng = np.random.default_rng(seed)
    now = timezone.now()
    points = [
        {
            "service": service,
            "environment": environment,
            "name": "latency_ms",
            "value": float(value),
            "timestamp": (now - timedelta(minutes=minutes_ago - 25 * i / 60)).isoformat(),
        }
        for i, value in enumerate(rng.normal(mean, 4, 60))
    ]
    response = api.post("/api/v1/metrics", data=json.dumps({"points": points}), content_type="application/json")
    assert response.status_code == 202, response.content


def _stream(project, api, service, environment, versions, means, params) -> Deploy:
    """A baseline and a deploy after it, each with a window of latency points; the second one judged."""
    _deploy(project, service, environment, versions[0], 120)
    _post(api, service, environment, means[0], 70, 1)
    current = _deploy(project, service, environment, versions[1], 40, params=params)
    _post(api, service, environment, means[1], 32, 2)
    impact_compute(deploy=current)
    return current


def test_two_deploys_of_different_streams_are_compared_from_the_picker(page, live_server, login, project, api):
    a = _stream(project, api, "fraud-scorer", "production", ("1.0", "1.1"), (100, 140), {"max_depth": 6})
    b = _stream(project, api, "churn-model", "staging", ("2.0", "2.1"), (100, 101), {"max_depth": 7, "eta": 0.1})
    login(page, "vera", "vera-password")
    page.goto(f"{live_server.url}/{project.slug}/compare/")
    page.select_option("#compare-a", str(a.pk))
    page.select_option("#compare-b", str(b.pk))
    page.click("#compare-go")

    expect(page).to_have_url(re.compile(rf"/compare/{a.pk}/{b.pk}/$"))
    expect(page.locator("#compare-1 .compare-verdict .badge")).to_have_text("Degraded")
    expect(page.locator("#compare-2 .compare-verdict .badge")).to_have_text("Healthy")
    params = page.locator("tr.param-row")
    expect(params).to_have_count(2)
    for key in ("max_depth", "eta"):
        expect(params.filter(has=page.locator("th", has_text=key)).locator(".tag-changed")).to_have_text("differs")
    chart = page.locator("#compare-chart-0")
    chart.scroll_into_view_if_needed()
    expect(chart.locator("svg.main-svg").first).to_be_visible()
    drawn = page.evaluate(
        """() => document.getElementById("compare-chart-0")._fullData.map((t) => ({name: t.name, n: t.x.length}))"""
    )
    assert [t["name"] for t in drawn] == ["A: 1.1", "B: 2.1"]
    assert all(t["n"] > 10 for t in drawn)
    expect(chart.locator("g.scatterlayer g.trace")).to_have_count(2)
    expect(chart.locator(".annotation-text", has_text="judged")).to_have_count(2)
