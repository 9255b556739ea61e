"""The deploy page's CI checks and fairness table, and the timeline row's checks badge."""

from __future__ import annotations

import pytest

from deployments.checks_services import deploy_checks_record
from deployments.models import Service
from deployments.services import deploy_record
from deployments.settings_services import service_settings_update
from metrics.drift.services import drift_compute
from tests.metrics.test_fairness import BASELINE, CURRENT, post

pytestmark = pytest.mark.django_db


def test_the_deploy_page_lists_checks_failed_first_and_names_a_missing_required_one(client, alice, project) -> None:
    deploy, _ = deploy_record(project=project, service="scorer", environment="production", version="1")
    service = Service.objects.get(pk=deploy.service_id)
    service_settings_update(service=service, changes={"required_checks": ["schema", "bias-gender"]})
    deploy_checks_record(
        deploy=deploy,
        checks=[
            {"name": "auc-holdout", "kind": "model_quality", "status": "passed", "metrics": {"auc": 0.91}},
            {"name": "schema", "kind": "schema", "status": "failed", "url": "https://ci.example/7"},
        ],
    )
    client.force_login(alice)
    page = client.get(f"/{project.slug}/deploys/{deploy.pk}/").content.decode()
    assert page.index('data-check="schema"') < page.index('data-check="auc-holdout"')
    assert '<a href="https://ci.example/7" rel="noopener">schema</a> <span class="tag">required</span>' in page
    assert "auc=0.91" in page
    assert "Waiting for required check: bias-gender" in page

    timeline = client.get(f"/{project.slug}/").content.decode()
    assert "1/2 checks failed" in timeline


def test_a_deploy_without_checks_shows_no_checks_card_or_badge(client, alice, project) -> None:
    deploy, _ = deploy_record(project=project, service="scorer", environment="production", version="1")
    client.force_login(alice)
    assert 'id="checks"' not in client.get(f"/{project.slug}/deploys/{deploy.pk}/").content.decode()
    assert "checks-badge" not in client.get(f"/{project.slug}/").content.decode()


def test_the_deploy_page_shows_the_fairness_table_worst_group_first_beside_the_baseline(client, alice, project) -> None:
    baseline, _ = deploy_record(project=project, service="scorer", environment="production", version="1")
    service_settings_update(
        service=Service.objects.get(pk=baseline.service_id), changes={"sensitive_columns": ["gender"]}
    )
    post(baseline, BASELINE)
    deploy, _ = deploy_record(project=project, service="scorer", environment="production", version="2")
    post(deploy, CURRENT)
    drift_compute(deploy=deploy)
    client.force_login(alice)
    page = client.get(f"/{project.slug}/deploys/{deploy.pk}/").content.decode()
    table = page[page.index('id="fairness"') :]
    assert "disparate impact 0.667 (baseline 0.909)" in table
    assert "crossed the line this deploy" in table
    # f (40 %) before m (60 %); x has 10 rows: insufficient, last
    assert table.index('<th scope="row">f') < table.index('<th scope="row">m') < table.index('<th scope="row">x')
    assert "50.0% → 40.0%" in table and "55.0% → 60.0%" in table
