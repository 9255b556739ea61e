"""The small things a person notices, in Chromium on a few rows (no demo): the current section marked in the nav,
the API docs one click away, a favicon, a Copy button for a freshly issued token, and Plotly fetched only after
the page has loaded (the first paint and the load event never wait for it)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from deployments.services import deploy_record

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_nav_marks_the_current_section_and_links_the_api_docs(page, live_server, login, alice, project):
    login(page, "alice", "alice-password")
    page.goto(f"{live_server.url}/{project.slug}/settings/audit/")
    current = page.locator("#project-nav a[aria-current=page]")
    expect(current).to_have_count(1)
    expect(current).to_have_text("Audit log")
    page.goto(f"{live_server.url}/{project.slug}/dora/")
    expect(page.locator("#project-nav a[aria-current=page]")).to_have_text("DORA")
    page.locator("#project-nav a", has_text="API docs").click()
    expect(page).to_have_url(f"{live_server.url}/api/docs/")


def test_every_page_names_a_favicon_that_is_served(page, live_server, login, alice, project):
    login(page, "alice", "alice-password")
    page.goto(f"{live_server.url}/{project.slug}/")
    href = page.locator("link[rel=icon]").get_attribute("href")
    response = page.request.get(f"{live_server.url}{href}")
    assert response.status == 200 and response.headers["content-type"].startswith("image/svg")


def test_a_freshly_issued_token_has_a_copy_button_that_copies_it(page, live_server, login, alice, project):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    login(page, "alice", "alice-password")
    page.goto(f"{live_server.url}/{project.slug}/settings/")
    page.fill("#tokens input[name=name]", "ci")
    page.locator("#tokens input[name=scopes][value=ingest]").check()
    page.locator("#tokens button[type=submit]").click()
    token = page.locator("#new-token [data-secret]").inner_text().strip()
    assert token
    button = page.locator("#new-token button.copy-secret")
    button.click()
    expect(button).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == token


def test_plotly_is_fetched_after_the_load_event_and_the_chart_is_then_drawn(page, live_server, login, alice, project):
    for hours, version in ((3, "1.0"), (1, "1.1")):
        deploy_record(project=project, service="svc", environment="production", version=version,
                      finished_at=timezone.now() - timedelta(hours=hours))  # fmt: skip
    login(page, "alice", "alice-password")
    page.goto(f"{live_server.url}/{project.slug}/")
    expect(page.locator("#timeline-chart g.scatterlayer path.point")).to_have_count(2)
    timing = page.evaluate(
        """() => ({load: performance.getEntriesByType("navigation")[0].loadEventStart,
                   plotly: performance.getEntriesByType("resource")
                     .filter((e) => e.name.includes("plotly-basic")).map((e) => e.startTime)})"""
    )
    assert len(timing["plotly"]) == 1
    assert timing["plotly"][0] >= timing["load"] > 0


def test_a_p_value_never_wraps_mid_number_on_a_phone(page, live_server, login, alice, project):
    from tests.dashboard.test_deploy_page_voice import judged

    deploy, _ = deploy_record(project=project, service="svc", environment="production", version="2.0",
                              finished_at=timezone.now() - timedelta(hours=1))  # fmt: skip
    judged(deploy)
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, "alice", "alice-password")
    page.goto(f"{live_server.url}/{project.slug}/deploys/{deploy.pk}/")
    cells = page.locator("tr.impact-row td.mono")
    expect(cells.first).to_be_visible()
    lines = page.evaluate(
        """() => [...document.querySelectorAll("tr.impact-row td.mono")].map((td) => {
             const range = document.createRange(); range.selectNodeContents(td);
             return [td.textContent.trim(), new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size];
           })"""
    )
    assert any(text == "6.19e-25" for text, _ in lines), lines
    assert all(count == 1 for _, count in lines), lines
