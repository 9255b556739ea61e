"""A newcomer clicks Request rollback on the demo's drifted deploy and watches the request reach "succeeded":
the dispatch, the demo CI's callbacks and its deploy of the target all stay on this machine (the demo
receiver is served by the live server, which is the SITE_URL the demo points at)."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

from alerts.models import Alert
from deployments.models import Deploy
from rollbacks.models import RollbackRequest
from tests.demo_snapshot import seeded_demo
from tracker.models import Project

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(live_server, settings) -> Project:
    settings.SITE_URL = live_server.url
    settings.OUTBOUND_ALLOW_HTTP, settings.OUTBOUND_ALLOWED_NETWORKS = True, ["127.0.0.0/8"]
    seeded_demo()
    return Project.objects.get(slug="demo")


def roll_back_the_drifted_deploy(page, login) -> RollbackRequest:
    """Log in as the newcomer, open the deploy with open alerts, request its rollback, wait for "succeeded"."""
    login(page, "demo", "demo")
    drifted = page.locator("tr.deploy-row", has=page.locator(".alert-count")).first
    expect(drifted).to_contain_text("fraud-scorer")
    drifted.locator("a.deploy-link").click()
    expect(page.locator("#alerts")).to_contain_text("Dataset drift")
    page.click("#rollback-button")
    expect(page.locator("h1")).to_contain_text("Roll back fraud-scorer in production")
    page.fill("textarea[name=reason]", "inputs drifted after this release")
    page.click("#confirm-rollback")
    expect(page).to_have_url(re.compile(r"/demo/deploys/\d+/#rollback$"))
    rollback = RollbackRequest.objects.select_related("target").get()
    row = page.locator(f"#rollback-{rollback.pk}")
    deadline = time.monotonic() + 30
    while "Succeeded" not in row.inner_text() and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
    expect(row).to_contain_text("Succeeded")
    expect(row).to_contain_text(f"by deploy {rollback.target.version}")
    rollback.refresh_from_db()
    return rollback


def assert_carried_out_locally(rollback: RollbackRequest, base_url: str) -> None:
    assert [c.status for c in rollback.callbacks.order_by("at", "id")] == ["accepted", "running"]
    assert [(a.url.startswith(base_url), a.status_code) for a in rollback.attempts.all()] == [(True, 202)]
    assert rollback.deploy.status == "rolled_back" and rollback.completed_by.is_rollback
    assert not Alert.objects.open().filter(deploy=rollback.deploy).exists()
    redeployed = Deploy.objects.filter(environment=rollback.environment, version=rollback.target.version)
    assert redeployed.count() == 2


def test_a_newcomer_rolls_back_the_drifted_deploy_and_sees_it_succeed(page, live_server, login, demo):
    """In-process tasks, as the demo runs without a broker."""
    rollback = roll_back_the_drifted_deploy(page, login)
    page.screenshot(path="var/screenshot-demo-rollback.png", full_page=True)
    assert_carried_out_locally(rollback, live_server.url)


@pytest.mark.services
def test_with_a_real_worker_the_demo_rollback_succeeds_too(celery_worker_process, page, live_server, login, demo):
    """The dispatch and the demo CI's work run in a Celery worker process, as `make run` does."""
    rollback = roll_back_the_drifted_deploy(page, login)
    assert_carried_out_locally(rollback, live_server.url)
