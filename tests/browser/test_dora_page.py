"""The DORA page in Chromium: the four weekly trends drawn by Plotly, each figure's band with its limits, and
retrains counted apart from code deploys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from deployments.services import deploy_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_dora_page_draws_weekly_trends_and_states_the_bands(page, live_server, login, project):
    now = datetime.now(UTC)
    # Two weeks: 1.0 (code), then 1.1 on the same commit with a new model (a retrain), then 1.2 (code).
    plan = [("1.0", "a" * 40, "1", 10), ("1.1", "a" * 40, "2", 9), ("1.2", "b" * 40, "2", 2)]
    for version, sha, model, days_ago in plan:
        deploy_record(project=project, service="svc", environment="production", version=version, commit_sha=sha,
                      model_name="m", model_version=model, finished_at=now - timedelta(days=days_ago),
                      commit_timestamp=now - timedelta(days=days_ago, hours=2))  # fmt: skip
    login(page, "alice", "alice-password")
    page.goto(f"{live_server.url}/{project.slug}/dora/")
    for index in range(4):
        chart = page.locator(f"#dora-chart-{index}")
        expect(chart.locator("svg.main-svg").first).to_be_visible()
    # The deploys chart: code and model-only deploys, a point per week of the 30-day window (5 weeks).
    drawn = page.evaluate("() => document.getElementById('dora-chart-0')._fullData.map((t) => [t.name, t.y])")
    assert [name for name, _ in drawn] == ["code deploys", "model-only deploys"]
    assert sum(drawn[0][1]) == 2 and sum(drawn[1][1]) == 1 and len(drawn[0][1]) == 5
    lead = page.locator('tr.band-row[data-figure="lead_time_hours"]')
    expect(lead.locator(".badge")).to_have_text("High")  # 2 h: between one hour and one week
    expect(lead).to_contain_text("Elite: less than one hour")
    expect(page.locator("#dora-bands")).to_contain_text("Accelerate State of DevOps Report 2021")
    expect(page.locator("td.model-deploys")).to_contain_text("1 ·")
