"""A deploy page with CI checks and a fairness table, in Chromium: both shown, no CSP violation, no overflow."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from deployments.checks_services import deploy_checks_record
from deployments.models import Service
from deployments.services import deploy_record
from deployments.settings_services import service_settings_update
from metrics.drift.services import drift_compute
from tests.browser.test_csp import VIOLATION_LISTENER
from tests.metrics.test_fairness import BASELINE, CURRENT, post

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_deploy_page_shows_checks_and_fairness_under_the_policy_on_a_phone(page, live_server, login, project):
    baseline, _ = deploy_record(project=project, service="scorer", environment="production", version="1")
    service_settings_update(
        service=Service.objects.get(pk=baseline.service_id),
        changes={"sensitive_columns": ["gender"], "required_checks": ["schema", "bias-gender"]},
    )
    post(baseline, BASELINE)
    deploy, _ = deploy_record(project=project, service="scorer", environment="production", version="2")
    post(deploy, CURRENT)
    drift_compute(deploy=deploy)
    deploy_checks_record(
        deploy=deploy,
        checks=[
            {"name": "schema", "kind": "schema", "status": "failed", "summary": "column income missing " * 20},
            {"name": "auc-holdout", "kind": "model_quality", "status": "passed", "metrics": {"auc": 0.91, "n": 5000}},
        ],
    )
    page.context.add_init_script(VIOLATION_LISTENER)
    login(page, "alice", "alice-password")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/{project.slug}/deploys/{deploy.pk}/")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#checks tr.check-failed th")).to_contain_text("schema")
    expect(page.locator("#checks .notice")).to_contain_text("bias-gender")
    expect(page.locator("table.fairness-table caption")).to_contain_text("disparate impact 0.667 (baseline 0.909)")
    assert page.evaluate("window.__cspViolations") == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto(f"{live_server.url}/{project.slug}/")
    expect(page.locator(".checks-badge")).to_have_text("1/2 checks failed")
