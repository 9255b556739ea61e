"""A person opens the demo's degraded deploy in Chromium and sees the impact table and its charts drawn."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from metrics.impact.models import ImpactReport
from tests.demo_snapshot import seeded_demo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(db):
    seeded_demo()


def test_the_degraded_demo_deploy_shows_its_metrics_and_draws_a_chart_per_metric(page, live_server, login, demo):
    report = ImpactReport.objects.select_related("deploy__project").get(verdict="degraded")
    deploy = report.deploy
    login(page, "demo", "demo")
    expect(page.locator("tr.deploy-row .verdict-degraded").first).to_contain_text("impact degraded")

    page.goto(f"{live_server.url}/{deploy.project.slug}/deploys/{deploy.pk}/")
    expect(page.locator("#impact-verdict")).to_have_text("Degraded")
    expect(page.locator("#impact .impact-reasons")).to_contain_text("critical metric failing: error_rate")
    rows = page.locator("tr.impact-row")
    expect(rows).to_have_count(len(report.metrics))
    expect(page.locator('tr.impact-row[data-metric="latency_ms"] .badge')).to_have_text("High")
    for index in range(len(report.metrics)):
        chart = page.locator(f"#impact-chart-{index}")
        chart.scroll_into_view_if_needed()
        # Plotly drew it: its SVG with one line per plotted series and the deploy markers.
        expect(chart.locator("svg.main-svg").first).to_be_visible()
        assert chart.locator("g.scatterlayer g.trace").count() >= 2
    expect(page.locator("#impact-chart-0 .shapelayer path").first).to_be_attached()
    page.screenshot(path="var/screenshot-impact.png", full_page=True)


def test_an_admin_sees_the_metric_settings_of_the_demo_service(page, live_server, login, demo):
    login(page, "demo", "demo")
    report = ImpactReport.objects.select_related("deploy__project").get(verdict="degraded")
    page.goto(f"{live_server.url}/{report.deploy.project.slug}/services/fraud-scorer/metrics/")
    row = page.locator('tr.metric-setting-row[data-metric="error_rate"]')
    expect(row.locator('input[name="critical"]')).to_be_checked()
    expect(page.locator('tr.metric-setting-row[data-metric="auc"] select[name="direction"]')).to_have_value(
        "decrease_is_bad"
    )
