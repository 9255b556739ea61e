"""A person reads the visual timeline and a service page in Chromium, and the deploy page's JavaScript weight."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deployments.services import deploy_record
from metrics.impact.models import ImpactReport, MetricRollup
from tests.test_plotly_bundle import BUNDLE_TRACES

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
JS_BUDGET_BYTES = 1_500_000


def record(project, hours_ago, version, service="fraud-scorer", environment="production", author="dana"):
    deploy, _ = deploy_record(
        project=project, service=service, environment=environment, version=version, author=author,
        finished_at=timezone.now() - timedelta(hours=hours_ago), commit_sha=f"{hours_ago:07x}cafe",
    )  # fmt: skip
    return deploy


@pytest.fixture
def history(project):
    """Six deploys of two services over 40 days; three in the last day, five in the last week."""
    deploys = [
        record(project, 2, "2.0.0"),
        record(project, 5, "2.0.1", author="eve"),
        record(project, 20, "1.9.0", service="churn-model", environment="staging"),
        record(project, 24 * 3, "1.8.0"),
        record(project, 24 * 6, "1.7.0", service="churn-model", environment="staging"),
        record(project, 24 * 40, "1.0.0"),
    ]
    ImpactReport.objects.update_or_create(
        deploy=deploys[0], defaults={"verdict": "degraded", "final": True, "metrics": [{"name": "latency_ms"}]}
    )
    return deploys


def markers(page):
    return page.locator("#timeline-chart g.scatterlayer path.point")


def test_the_visual_timeline_draws_a_marker_per_deploy_and_follows_the_range_and_the_search(
    page, live_server, login, alice, project, history
):
    login(page, "alice", "alice-password")
    page.goto(f"{live_server.url}/{project.slug}/")
    expect(markers(page)).to_have_count(6)
    expect(page.locator("#timeline-chart .legendtext", has_text="Degraded")).to_have_count(1)
    expect(page.locator("#timeline-chart .ytick", has_text="churn-model · staging")).to_have_count(1)

    page.select_option("#range-picker", "24h")
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"range=24h"))
    expect(markers(page)).to_have_count(3)
    expect(page.locator("tr.deploy-row")).to_have_count(3)

    page.select_option("#range-picker", "7d")
    page.fill("input[name=q]", "eve")
    page.click("form.filters button[type=submit]")
    expect(markers(page)).to_have_count(1)
    expect(page.locator("tr.deploy-row .deploy-link")).to_have_text(re.compile(r"2\.0\.1"))

    page.screenshot(path="var/screenshot-timeline-chart.png", full_page=True)
    # A click on a marker opens its deploy.
    box = markers(page).first.bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(page).to_have_url(re.compile(rf"/deploys/{history[1].pk}/$"))


def test_the_custom_range_inputs_show_only_when_chosen(page, live_server, login, alice, project, history):
    login(page, "alice", "alice-password")
    page.goto(f"{live_server.url}/{project.slug}/")
    expect(page.locator("input[name=since]")).to_be_hidden()
    page.select_option("#range-picker", "custom")
    expect(page.locator("input[name=since]")).to_be_visible()
    day = timezone.localdate() - timedelta(days=7)
    page.fill("input[name=since]", str(day))
    page.fill("input[name=until]", str(day + timedelta(days=2)))
    page.click("form.filters button[type=submit]")
    expect(markers(page)).to_have_count(1)  # 1.7.0, six days ago


def test_the_row_chip_shows_the_combined_verdict_and_expands_to_both(page, live_server, login, alice, project, history):
    login(page, "alice", "alice-password")
    page.goto(f"{live_server.url}/{project.slug}/")
    row = page.locator(f'tr.deploy-row[data-deploy-id="{history[0].pk}"]')
    chip = row.locator("summary.chip")
    expect(chip).to_have_text("Degraded")
    expect(row.locator(".verdict-degraded")).to_be_hidden()
    chip.click()
    expect(row.locator(".verdict-degraded")).to_be_visible()


def test_the_service_page_draws_the_metric_with_one_annotation_per_deploy(
    page, live_server, login, alice, project, history
):
    for deploy in history[:2] + history[3:4]:
        for minute in range(5):
            MetricRollup.objects.create(
                project=project, service=deploy.service, environment=deploy.environment, name="latency_ms",
                minute=deploy.deployed_at + timedelta(minutes=minute), deploy_key=deploy.pk, count=1,
                total=100 + minute, total_squares=(100 + minute) ** 2, min_value=100, max_value=100 + minute,
            )  # fmt: skip
    login(page, "alice", "alice-password")
    page.goto(f"{live_server.url}/{project.slug}/")
    page.locator("tr.deploy-row a", has_text="service").first.click()
    expect(page).to_have_url(re.compile(r"/services/fraud-scorer/$"))
    chart = page.locator("#service-metric-chart")
    expect(chart.locator("g.scatterlayer g.trace")).to_have_count(1)
    # The last 7 days hold three fraud-scorer deploys: a dotted line and a label each.
    expect(chart.locator(".shapelayer path")).to_have_count(3)
    expect(chart.locator("g.annotation")).to_have_count(3)
    expect(chart.locator("g.annotation", has_text="2.0.0")).to_have_count(1)
    expect(page.locator("#current-versions tr.current-row")).to_have_count(1)
    expect(page.locator("#current-versions")).to_contain_text("2.0.0")

    page.screenshot(path="var/screenshot-service.png", full_page=True)
    page.select_option("#range-picker", "30d")
    page.click("form.filters button[type=submit]")
    expect(chart.locator(".shapelayer path")).to_have_count(3)
    page.select_option("#range-picker", "24h")
    page.click("form.filters button[type=submit]")
    expect(chart.locator(".shapelayer path")).to_have_count(2)


def test_the_deploy_page_loads_at_most_its_javascript_budget_and_the_partial_bundle_only(
    page, live_server, login, alice, project, history
):
    login(page, "alice", "alice-password")
    page.goto(f"{live_server.url}/{project.slug}/deploys/{history[1].pk}/")
    page.wait_for_function("() => window.Plotly !== undefined")
    scripts = page.evaluate(
        """() => performance.getEntriesByType("resource")
            .filter((entry) => entry.initiatorType === "script")
            .map((entry) => [entry.name, entry.decodedBodySize])"""
    )
    assert any("plotly-basic" in name for name, _ in scripts)
    assert sum(size for _, size in scripts) <= JS_BUDGET_BYTES, scripts
    assert set(page.evaluate("Object.keys(Plotly.PlotSchema.get().traces)")) == BUNDLE_TRACES
