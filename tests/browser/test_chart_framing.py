"""Deploy 61's case in Chromium: a baseline that last served two days before the deploy. Both series are drawn
and each judged window lies inside the visible range of its own axis (two panels with a shared y-axis)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deployments.models import Deploy
from deployments.services import deploy_processed_mark, deploy_record
from metrics.impact.analysis import impact_compute
from metrics.impact.models import ImpactReport
from metrics.impact.services import metric_setting_save

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _deploy(project, version: str, at: datetime) -> Deploy:
    deploy, _ = deploy_record(
        project=project, service="fraud-scorer", environment="production", version=version, finished_at=at
    )
    deploy_processed_mark(deploy_id=deploy.pk)
    return Deploy.objects.select_related("service").get(pk=deploy.pk)


def _post(api, values: list[float], start: datetime, minutes: float) -> None:
    points = [
        {
            "service": "fraud-scorer",
            "environment": "production",
            "name": "latency_ms",
            "value": value,
            "timestamp": (start + timedelta(minutes=minutes * i / len(values))).isoformat(),
        }
        for i, value in enumerate(values)
    ]
    response = api.post("/api/v1/metrics", data=json.dumps({"points": points}), content_type="application/json")
    assert response.status_code == 202, response.content


@pytest.fixture
def two_days_apart(project, api) -> Deploy:
    """The baseline served its last point two days before this deploy went out 40 minutes ago."""
    now = timezone.now()
    rng = np.random.default_rng(61)
    _deploy(project, "1.0", now - timedelta(days=2, hours=3))
    _post(api, list(rng.normal(100, 5, 120)), now - timedelta(days=2, hours=1), 55)
    current = _deploy(project, "1.1", now - timedelta(minutes=40))
    _post(api, list(rng.normal(104, 5, 120)), now - timedelta(minutes=33), 30)
    metric_setting_save(project=project, service=current.service, name="latency_ms", unit="ms")
    impact_compute(deploy=current)
    return current


def _geometry(page, selector: str) -> dict:
    """What Plotly drew: each axis's visible range, each trace's name and its x values, as milliseconds."""
    return page.evaluate(
        """(selector) => {
          // Plotly's own date conversion (r2l, d2l: milliseconds since the epoch, UTC).
          const gd = document.querySelector(selector);
          const layout = gd._fullLayout;
          const axes = Object.keys(layout).filter((k) => /^xaxis\\d*$/.test(k)).map((k) => layout[k]);
          const byId = Object.fromEntries(axes.map((a) => [a._id, a]));
          return {
            axes: axes.map((a) => ({id: a._id, range: a.range.map((v) => a.r2l(v))})),
            traces: gd._fullData.map((t) => ({name: t.name, xaxis: t.xaxis, n: t.x.length,
              x: Array.from(t.x).map((v) => byId[t.xaxis].d2l(v))})),
            ytitle: layout.yaxis.title && layout.yaxis.title.text,
          };
        }""",
        selector,
    )


def _ms(value: str) -> float:
    return datetime.fromisoformat(value).timestamp() * 1000


def test_a_baseline_two_days_earlier_is_drawn_and_both_windows_are_in_view(page, live_server, login, two_days_apart):
    deploy = two_days_apart
    windows = ImpactReport.objects.get(deploy=deploy).metrics[0]["windows"]
    assert _ms(windows["current"][0]) - _ms(windows["baseline"][1]) > 47 * 3600 * 1000  # the geometry under test

    login(page, "alice", "alice-password")
    page.goto(f"{live_server.url}/{deploy.project.slug}/deploys/{deploy.pk}/")
    chart = page.locator("#impact-chart-0")
    chart.scroll_into_view_if_needed()
    expect(chart.locator("svg.main-svg").first).to_be_visible()
    drawn = _geometry(page, "#impact-chart-0")

    axes = {axis["id"]: axis["range"] for axis in drawn["axes"]}
    assert len(axes) == 2, drawn["axes"]
    names = {trace["name"] for trace in drawn["traces"]}
    assert names == {"baseline 1.0", "this deploy 1.1"}
    for side, label in (("baseline", "baseline 1.0"), ("current", "this deploy 1.1")):
        start, end = _ms(windows[side][0]), _ms(windows[side][1])
        trace = next(t for t in drawn["traces"] if t["name"] == label)
        low, high = axes[trace["xaxis"]]
        # The judged window lies inside the range its axis shows, and it takes a fair part of it.
        assert low <= start < end <= high, (side, low, start, end, high)
        assert (end - start) / (high - low) > 0.3
        # The series is drawn there: points whose x falls inside the visible range.
        assert trace["n"] > 20 and all(low <= x <= high for x in trace["x"])
    # Each panel has its own drawn line (an SVG path with a real path), the y-axis carries the unit.
    lines = chart.locator("g.scatterlayer g.trace path.js-line")
    assert lines.count() == 2
    assert all(len(lines.nth(i).get_attribute("d") or "") > 100 for i in range(2))
    assert drawn["ytitle"] == "ms"
    expect(chart.locator(".annotation-text", has_text="2.0 days later")).to_have_count(1)
