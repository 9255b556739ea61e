"""Drift on the pages: timeline badge, deploy-page section (query count), columns page, real browser."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deployments.models import Deploy
from metrics.drift.models import SampleColumn
from tests.demo_snapshot import seeded_demo
from tracker.models import Project, Role
from tracker.services import membership_set


@pytest.fixture
def project(alice, vera) -> Project:
    """The seeded demo, with alice as an admin and vera as a viewer."""
    seeded_demo()
    project = Project.objects.get(slug="demo")
    membership_set(project=project, user=alice, role=Role.ADMIN)
    membership_set(project=project, user=vera, role=Role.VIEWER)
    return project


@pytest.fixture
def demo_drift(project) -> list[Deploy]:
    """The demo's deploys that posted prediction samples (fraud-scorer in production), oldest first: the
    newest one's inputs drifted, the one before it changed the model."""
    return list(Deploy.objects.filter(project=project, drift_report__isnull=False).order_by("deployed_at", "id"))


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def check_the_demo_has_input_drift_on_one_deploy_and_model_drift_on_another(demo_drift):
    input_drift, model_change = demo_drift[-1].drift_report, demo_drift[-2].drift_report
    assert input_drift.n_drifted >= 3 and input_drift.n_expected == 1
    assert input_drift.prediction_drift_cause == "input_drift"
    assert model_change.n_drifted == 1 and model_change.prediction_drift_cause == "model_change"
    assert all(d.drift_report.n_drifted == 0 for d in demo_drift[1:-2])


def check_the_timeline_shows_drift_badges_without_a_query_per_row(alice_client, demo_drift, project):
    # Warm caches (sessions, content types, each view's chart: kept until its deploys change).
    alice_client.get(f"/{project.slug}/")
    alice_client.get(f"/{project.slug}/?service=fraud-scorer&environment=production")
    with CaptureQueriesContext(connection) as few:
        alice_client.get(f"/{project.slug}/?service=fraud-scorer&environment=production")
    with CaptureQueriesContext(connection) as many:
        response = alice_client.get(f"/{project.slug}/")
    body = response.content.decode()
    assert f"{demo_drift[-1].drift_report.n_drifted} of 10 columns drifted" in body
    assert "0 of 10 columns drifted" in body
    assert len(many) == len(few)  # more rows, same number of queries


def check_the_deploy_page_shows_the_drift_table_sorted_by_severity(alice_client, demo_drift, project):
    deploy = demo_drift[-1]
    response = alice_client.get(f"/{project.slug}/deploys/{deploy.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="drift-charts"' in body and "vendor/plotly-basic-4.1.1.min.js" in body
    verdicts = [c["verdict"] for c in deploy.drift_report.result["columns"]]
    assert verdicts == sorted(verdicts, key=["drifted", "expected", "stable", "insufficient_data"].index)
    assert body.index('data-column="num_txn_24h"') < body.index('data-column="hour"')
    assert "Realised quality" in body and "ROC AUC" in body and "3,000" in body  # the demo posts labels


def check_the_deploy_page_calls_out_prediction_drift_from_the_model_change(alice_client, demo_drift, project):
    body = alice_client.get(f"/{project.slug}/deploys/{demo_drift[-2].pk}/").content.decode()
    assert "caused by the model change" in body


def check_the_columns_page_lists_learned_kinds_and_only_admins_change_settings(
    client, alice, vera, demo_drift, project
):
    client.force_login(vera)
    body = client.get(f"/{project.slug}/services/fraud-scorer/columns/").content.decode()
    assert "is_new_customer" in body and "kind-boolean" in body and "kind-categorical" in body
    column = SampleColumn.objects.get(service__name="fraud-scorer", name="amount")
    form = {"drift_share": "0.3", "categorical_method": "chisquare_gof", f"method_{column.pk}": "psi"}
    assert client.post(f"/{project.slug}/services/fraud-scorer/drift-settings/", form).status_code == 403
    client.force_login(alice)
    client.post(f"/{project.slug}/services/fraud-scorer/drift-settings/", form)
    column.refresh_from_db()
    assert column.method == "psi"
    assert project.services.get(name="fraud-scorer").drift_setting.drift_share == 0.3


def check_an_outsider_cannot_see_the_columns_page(client, charlie, demo_drift, project):
    client.force_login(charlie)
    assert client.get(f"/{project.slug}/services/fraud-scorer/columns/").status_code == 404


@pytest.mark.django_db(transaction=True)  # the seeded demo's tasks run on commit
def test_the_seeded_demos_drift_on_the_pages(demo_drift, alice_client, project, client, charlie, alice, vera):
    """Seeding runs the whole product for tens of seconds: one seeding, then each check of the pages (each a
    function of its own, named for what it proves). The ones that change settings or log in others come last."""
    check_the_demo_has_input_drift_on_one_deploy_and_model_drift_on_another(demo_drift)
    check_the_timeline_shows_drift_badges_without_a_query_per_row(alice_client, demo_drift, project)
    check_the_deploy_page_shows_the_drift_table_sorted_by_severity(alice_client, demo_drift, project)
    check_the_deploy_page_calls_out_prediction_drift_from_the_model_change(alice_client, demo_drift, project)
    check_the_deploy_page_says_when_there_are_too_few_samples_to_judge(alice_client, demo_drift, project)
    check_an_outsider_cannot_see_the_columns_page(client, charlie, demo_drift, project)
    check_the_columns_page_lists_learned_kinds_and_only_admins_change_settings(client, alice, vera, demo_drift, project)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_person_opens_a_drifted_deploy_and_sees_the_drift_chart_and_an_overlay(
    page, login, live_server, project, demo_drift
):
    drifted = demo_drift[-1]
    login(page, "alice", "alice-password")
    page.goto(f"{live_server.url}/{project.slug}/")
    page.click(f"tr[data-deploy-id='{drifted.pk}'] a.deploy-link")
    page.wait_for_selector("#drift-chart .main-svg")
    bars = page.locator("#drift-chart .main-svg .bars .point")
    assert bars.count() == 10
    page.wait_for_selector("#drift-overlay .main-svg")
    page.click("button.drift-show[data-column='country']")
    page.wait_for_function("document.querySelector('#drift-overlay .gtitle').textContent === 'country'")
    assert page.locator("#drift-overlay .main-svg .bars .point").count() >= 12
    assert page.locator("#drift-column").input_value() == "country"


def check_the_deploy_page_says_when_there_are_too_few_samples_to_judge(alice_client, demo_drift, project):
    from metrics.drift.services import drift_compute

    deploy = demo_drift[-1]
    report = deploy.drift_report
    report.result, report.n_columns = {"columns": [], "drift_share_threshold": 0.5}, 0
    report.save()
    body = alice_client.get(f"/{project.slug}/deploys/{deploy.pk}/").content.decode()
    assert "Too few samples to judge yet" in body
    drift_compute(deploy=Deploy.objects.select_related("service", "baseline").get(pk=deploy.pk))
    assert "Too few samples" not in alice_client.get(f"/{project.slug}/deploys/{deploy.pk}/").content.decode()


def test_the_drift_bars_log_axis_writes_its_ticks_in_full():
    """Plotly's own log ticks print 0.5 and 0.2 as "5" and "2"; the chart states every tick's value."""
    from metrics.drift.charts import severity_bars

    columns = [
        {"column": "a", "verdict": "stable", "severity": 0.3, "method": "ks", "score": 0.3, "threshold": 1.0},
        {"column": "b", "verdict": "drifted", "severity": 2.5, "method": "ks", "score": 0.0, "threshold": 0.05},
    ]
    yaxis = severity_bars(columns)["layout"]["yaxis"]
    ticks = dict(zip(yaxis["tickvals"], yaxis["ticktext"], strict=True))
    assert (ticks[0.5], ticks[0.2], ticks[0.05], ticks[2.0], ticks[1.0]) == ("0.5", "0.2", "0.05", "2", "1")
    assert min(ticks) <= 0.01 and max(ticks) >= 2.5  # the floor stub and the tallest bar are both on the scale


def test_a_binned_column_row_shows_its_error_bound_and_a_sampled_one_its_sample_sizes():
    from metrics.drift.selectors import _column_row

    base = {"method": "wasserstein", "n_ref": 50_000, "n_cur": 60_000, "exact": False}
    binned = _column_row(base | {"sample_ref": 50_000, "sample_cur": 60_000, "error_bound": 0.0012})
    sampled = _column_row(base | {"sample_ref": 10_000, "sample_cur": 10_000})  # stored before bin sums
    assert (binned["sampled"], binned["error_bound"]) == (False, 0.0012)
    assert (sampled["sampled"], sampled["error_bound"]) == (True, None)
