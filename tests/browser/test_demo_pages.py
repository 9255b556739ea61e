"""A person opens the demo in Chromium: the timeline, then a deploy page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.demo_snapshot import seeded_demo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(db):
    seeded_demo()


def test_a_person_browses_the_demo_timeline_and_opens_a_deploy(page, live_server, login, demo):
    login(page, "demo", "demo")
    expect(page).to_have_url(re.compile(r"/demo/$"))
    expect(page.locator("h1")).to_have_text("Deploys")
    rows = page.locator("tr.deploy-row")
    assert rows.count() >= 30
    expect(page.locator("h2.day-head").first).to_be_visible()
    expect(page.locator("tr.deploy-row .tag-rollback").first).to_be_visible()

    page.select_option("select[name=service]", "churn-model")
    page.select_option("select[name=environment]", "production")
    page.click("form.filters button[type=submit]")
    expect(page).to_have_url(re.compile(r"service=churn-model"))
    services = page.locator("tr.deploy-row .deploy-link strong").all_inner_texts()
    assert services and set(services) == {"churn-model"}

    page.locator("tr.deploy-row .deploy-link").first.click()
    expect(page.locator("h1")).to_contain_text("churn-model")
    expect(page.locator("#changes h2")).to_have_text("What changed")
    expect(page.locator("#changes table.changes")).to_contain_text("Model version")
    expect(page.locator("#events")).to_contain_text("Received")
    page.screenshot(path="var/screenshot-deploy.png", full_page=True)


def test_a_rolled_back_deploy_says_so_and_links_the_rollback(page, live_server, login, demo):
    login(page, "demo", "demo")
    page.locator("tr.status-rolled_back .deploy-link").first.click()
    expect(page.locator(".notice.warn")).to_contain_text("rolled back by")
    page.locator(".notice.warn a").click()
    expect(page.locator(".head-badges .tag-rollback")).to_be_visible()


def test_a_stranger_cannot_log_in(page, live_server, demo):
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "demo")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    expect(page.locator(".error")).to_contain_text("didn't match")
