"""The timeline's visual view and filters, the combined verdict per row, and the service page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.selectors import combined_verdict
from deployments.models import Deploy
from deployments.services import deploy_record
from metrics.drift.models import DriftReport
from metrics.drift.selectors import DriftBadge
from metrics.impact.models import ImpactReport, MetricRollup
from metrics.impact.selectors import ImpactBadge, impact_badges

pytestmark = pytest.mark.django_db


def record(project, hours_ago: float, service="fraud-scorer", environment="production", **fields):
    fields = {"version": f"v{hours_ago:g}", "commit_sha": f"{int(hours_ago * 10):07x}beef", "author": "dana"} | fields
    deploy, _ = deploy_record(
        project=project,
        service=service,
        environment=environment,
        finished_at=timezone.now() - timedelta(hours=hours_ago),
        **fields,
    )
    return deploy


def judge(deploy, verdict="healthy", metrics=None, drifted=None):
    """Store the reports the judges would have written: an impact verdict, and optionally drift."""
    metrics = [{"name": "latency_ms"}] if metrics is None else metrics
    ImpactReport.objects.update_or_create(
        deploy=deploy, defaults={"verdict": verdict, "metrics": metrics, "final": True, "computed_at": timezone.now()}
    )
    if drifted is not None:
        DriftReport.objects.update_or_create(
            deploy=deploy,
            defaults={"status": "ok", "n_columns": 10, "n_drifted": drifted, "drift_share": drifted / 10,
                      "dataset_drift": drifted >= 5},
        )  # fmt: skip


def chart_points(response) -> list[list]:
    """(x, stream, url, version, verdict) of every marker the visual view would draw."""
    return [
        [x, y, data[0], data[1], trace["name"]]
        for trace in response.context["chart"]["data"]
        for x, y, data in zip(trace["x"], trace["y"], trace["customdata"], strict=True)
    ]


def impact(verdict: str, has_metrics: bool = True) -> ImpactBadge:
    return ImpactBadge(verdict, None, True, has_metrics)


def drift(n_drifted: int, dataset_drift: bool = False, status: str = "ok") -> DriftBadge:
    return DriftBadge(status, 10, n_drifted, 0, dataset_drift, "")


class TestCombinedVerdict:
    def test_it_is_the_worse_of_impact_and_drift(self):
        assert combined_verdict("succeeded", impact("healthy"), drift(6, dataset_drift=True)).key == "degraded"
        assert combined_verdict("succeeded", impact("healthy"), drift(1)).key == "marginal"
        assert combined_verdict("succeeded", impact("degraded"), drift(0)).key == "degraded"
        assert combined_verdict("succeeded", impact("marginal"), drift(1)).key == "marginal"

    def test_clean_drift_keeps_an_improvement(self):
        assert combined_verdict("succeeded", impact("improved"), drift(0)).key == "improved"
        assert combined_verdict("succeeded", impact("improved"), drift(2)).key == "marginal"

    def test_it_keeps_what_each_judge_said_for_the_hover(self):
        verdict = combined_verdict("succeeded", impact("healthy"), drift(6, dataset_drift=True))
        assert (verdict.impact, verdict.drift) == ("impact: healthy", "drift: 6 of 10 columns drifted")
        assert verdict.label == "Degraded"

    def test_a_deploy_that_never_had_metrics_says_so_in_grey(self):
        assert combined_verdict("succeeded", impact("insufficient_data", has_metrics=False), None).key == "no_metrics"
        assert combined_verdict("succeeded", None, None).key == "no_metrics"
        assert combined_verdict("succeeded", impact("insufficient_data"), None).key == "insufficient_data"

    def test_failed_rolled_back_and_unfinished_deploys_say_what_happened(self):
        assert combined_verdict("failed", None, None).key == "failed"
        assert combined_verdict("rolled_back", impact("degraded"), None).key == "rolled_back"
        assert combined_verdict("in_progress", impact("pending"), None).key == "pending"


def test_impact_badges_tell_a_report_without_metrics_from_one_with_too_few(project):
    empty, few = record(project, 2), record(project, 1)
    judge(empty, "insufficient_data", metrics=[])
    judge(few, "insufficient_data", metrics=[{"name": "auc"}])
    badges = impact_badges(deploy_ids=[empty.pk, few.pk])
    assert (badges[empty.pk].has_metrics, badges[few.pk].has_metrics) == (False, True)


def test_each_row_shows_one_chip_with_both_verdicts_behind_it(client, alice, project):
    client.force_login(alice)
    judge(record(project, 1), "healthy", drifted=6)
    judge(record(project, 2, version="quiet"), "insufficient_data", metrics=[])
    page = client.get(f"/{project.slug}/").content.decode()
    assert page.count('class="badge chip ') == 2
    assert 'chip-degraded" title="impact: healthy; drift: 6 of 10 columns drifted">Degraded<' in page
    assert 'chip-no_metrics" title="impact: no metrics; drift: no report">No metrics<' in page
    assert "impact: no metrics" in page and "impact insufficient" not in page


def test_the_visual_view_draws_one_marker_per_deploy_coloured_by_verdict(client, alice, project):
    client.force_login(alice)
    healthy, degraded = record(project, 1), record(project, 3, service="churn-model", environment="staging")
    judge(healthy, "healthy")
    judge(degraded, "degraded")
    response = client.get(f"/{project.slug}/")
    points = sorted(chart_points(response), key=lambda p: p[3])
    assert [(p[1], p[2], p[3], p[4]) for p in points] == [
        ("fraud-scorer · production", f"/{project.slug}/deploys/{healthy.pk}/", "v1", "Healthy"),
        ("churn-model · staging", f"/{project.slug}/deploys/{degraded.pk}/", "v3", "Degraded"),
    ]
    assert '<script id="timeline-chart-data" type="application/json">' in response.content.decode()


def test_the_range_filters_the_table_and_the_chart(client, alice, project):
    client.force_login(alice)
    for hours in (2, 30, 24 * 10, 24 * 40):
        record(project, hours)
    for chosen, versions in (("24h", {"v2"}), ("7d", {"v2", "v30"}), ("30d", {"v2", "v30", "v240"}),
                             ("", {"v2", "v30", "v240", "v960"})):  # fmt: skip
        response = client.get(f"/{project.slug}/", {"range": chosen})
        assert {p[3] for p in chart_points(response)} == versions, chosen
        assert {d.version for d in response.context["page"].object_list} == versions, chosen


def test_a_custom_range_takes_whole_days(client, alice, project):
    client.force_login(alice)
    inside, outside = record(project, 24 * 5), record(project, 24 * 9)
    day = timezone.localdate(inside.deployed_at)
    query = {"range": "custom", "since": str(day - timedelta(days=1)), "until": str(day)}
    response = client.get(f"/{project.slug}/", query)
    assert [p[3] for p in chart_points(response)] == [inside.version]
    assert outside.version not in {d.version for d in response.context["page"].object_list}
    assert f'name="since" value="{query["since"]}"' in response.content.decode()
    assert f"since={query['since']}" in response.context["query"]  # what the pager's links carry


def test_the_search_matches_version_sha_author_or_model_version(client, alice, project):
    client.force_login(alice)
    record(project, 1, version="2.4.0", commit_sha="abcdef1234", author="dana", model_version="m7")
    record(project, 2, version="3.0.0", commit_sha="0123456789", author="eve", model_version="m8")
    for q, versions in (("2.4", ["2.4.0"]), ("ABCDEF", ["2.4.0"]), ("eve", ["3.0.0"]), ("m8", ["3.0.0"]),
                        ("cdef", []), ("nothing", [])):  # fmt: skip
        response = client.get(f"/{project.slug}/", {"q": q})
        assert sorted(p[3] for p in chart_points(response)) == versions, q
        assert [d.version for d in response.context["page"].object_list] == versions, q
    page = client.get(f"/{project.slug}/", {"q": "nothing"}).content.decode()
    assert "No deploys match these filters" in page and "post one from CI" not in page


def test_the_timeline_query_count_is_the_same_for_few_and_many_deploys(
    client, alice, project, django_assert_num_queries
):
    client.force_login(alice)
    judge(record(project, 1), "healthy", drifted=1)
    client.get(f"/{project.slug}/")  # the session and the user, loaded once
    # session, user, membership; services, environments; the stamp of the chart's deploys, and the first time
    # they are drawn the deploys (their impact and drift joined in); the page's count and rows (the same); the
    # rows' alerts and rollbacks; the streams' settings
    for hours in range(2, 80):
        judge(record(project, hours, service=f"svc-{hours % 5}"), "degraded", drifted=hours % 7)
    for drawn in (79, 99):
        for kept, queries in ((False, 12), (True, 11)):
            with django_assert_num_queries(queries):
                response = client.get(f"/{project.slug}/", {"range": "30d", "q": "v"})
            assert len(chart_points(response)) == drawn, kept
        for hours in (0.5, *range(81, 100)):  # new deploys: drawn afresh, at the same cost
            record(project, hours)


def rollups(project, deploy, name, values):
    """Per-minute rollups as the ingest writes them: one a minute after the deploy."""
    for minute, value in enumerate(values):
        MetricRollup.objects.create(
            project=project, service=deploy.service, environment=deploy.environment, name=name,
            minute=(deploy.deployed_at + timedelta(minutes=minute)).replace(second=0, microsecond=0),
            deploy_key=deploy.pk, count=2, total=2 * value, total_squares=2 * value * value,
            min_value=value, max_value=value,
        )  # fmt: skip


def test_the_service_page_draws_the_chosen_metric_with_a_line_per_deploy(client, alice, project):
    client.force_login(alice)
    old, new = record(project, 5), record(project, 1)
    staging = record(project, 3, environment="staging", version="s1")
    record(project, 2, service="churn-model")
    judge(old, "healthy", drifted=0)
    judge(new, "degraded", drifted=6)
    rollups(project, old, "latency_ms", [100, 110, 120])
    rollups(project, new, "latency_ms", [200, 210])
    rollups(project, staging, "error_rate", [0.1])
    response = client.get(f"/{project.slug}/services/fraud-scorer/", {"metric": "latency_ms", "range": "24h"})
    assert response.status_code == 200
    assert response.context["metrics"] == ["error_rate", "latency_ms"]
    figure = response.context["metric_chart"]
    [production] = figure["data"]
    assert production["name"] == "production" and production["y"] == [100, 110, 120, 200, 210]
    lines = [shape["line"]["color"] for shape in figure["layout"]["shapes"]]
    assert lines == ["#c0362c", "#9aa3b2", "#2e9d5b"]  # new (degraded), staging (no metrics), old (healthy)
    assert [a["text"] for a in figure["layout"]["annotations"]] == ["v1", "s1", "v5"]
    drift_figure = response.context["drift_chart"]
    assert [(t["name"], t["y"]) for t in drift_figure["data"]] == [("fraud-scorer · production", [0.0, 0.6])]
    assert [(c["name"], c["version"]) for c in response.context["current"]] == [("production", "v1"), ("staging", "s1")]


def test_the_service_page_picks_the_first_metric_and_draws_hourly_over_long_ranges(client, alice, project):
    client.force_login(alice)
    deploy = record(project, 24 * 3)
    # Ten minutes past an hour, so that its two rollup minutes fall in one hour whenever the test runs.
    deploy.deployed_at = deploy.deployed_at.replace(minute=10, second=0, microsecond=0)
    Deploy.objects.filter(pk=deploy.pk).update(deployed_at=deploy.deployed_at)
    rollups(project, deploy, "auc", [0.8, 0.9])
    response = client.get(f"/{project.slug}/services/fraud-scorer/", {"metric": "unknown", "range": "7d"})
    assert response.context["metric"] == "auc"
    [trace] = response.context["metric_chart"]["data"]
    assert trace["y"] == [pytest.approx(0.85)]  # both minutes fall in one hour


def test_the_service_page_of_an_unknown_service_is_404_and_pages_link_to_it(client, alice, project):
    client.force_login(alice)
    deploy = record(project, 1)
    assert client.get(f"/{project.slug}/services/nope/").status_code == 404
    link = f'href="/{project.slug}/services/fraud-scorer/"'
    assert link in client.get(f"/{project.slug}/").content.decode()
    assert link in client.get(f"/{project.slug}/deploys/{deploy.pk}/").content.decode()


def test_the_service_page_query_count_is_the_same_for_few_and_many_deploys(
    client, alice, project, django_assert_num_queries
):
    client.force_login(alice)
    rollups(project, record(project, 1), "latency_ms", [1.0, 2.0])
    client.get(f"/{project.slug}/services/fraud-scorer/")
    # session, user, membership, the service; its metric names (posted, configured); the deploys' stamp (kept
    # from the first request: their query is skipped); the metric's trend; the drift shares; the current version
    # per environment
    with django_assert_num_queries(10):
        assert client.get(f"/{project.slug}/services/fraud-scorer/").status_code == 200
    for hours in range(2, 60):
        deploy = record(project, hours, environment=f"env-{hours % 4}")
        judge(deploy, "healthy", drifted=hours % 3)
        rollups(project, deploy, "latency_ms", [float(hours)])
    with django_assert_num_queries(11):  # and the deploys (their impact and drift joined in), changed since
        response = client.get(f"/{project.slug}/services/fraud-scorer/")
    assert len(response.context["deploys"]) == 59
    with django_assert_num_queries(10):
        client.get(f"/{project.slug}/services/fraud-scorer/")


def test_a_cached_row_is_drawn_again_when_anything_it_shows_changes(client, alice, project):
    """Rows are cached under everything they are drawn from: a verdict, a field, a check or an alert redraws one."""
    from alerts.models import Alert, AlertGroup
    from deployments.models import Deploy, DeployCheck

    client.force_login(alice)
    deploy = record(project, 1)
    judge(deploy, "healthy")

    def row() -> str:
        page = client.get(f"/{project.slug}/").content.decode()
        return page.split(f'data-deploy-id="{deploy.pk}"')[1].split("</tr>")[0]

    assert "chip-healthy" in row() and "chip-healthy" in row()  # drawn, then read from the cache
    ImpactReport.objects.filter(deploy=deploy).update(verdict="degraded")
    assert "chip-degraded" in row()
    Deploy.objects.filter(pk=deploy.pk).update(author="zed")
    assert "<td>zed</td>" in row()
    DeployCheck.objects.create(deploy=deploy, name="schema", kind="schema", status="failed")
    assert "1/1 checks failed" in row()
    group = AlertGroup.objects.create(
        project=project, service=deploy.service, environment=deploy.environment, key="g"
    )  # fmt: skip
    Alert.objects.create(
        project=project, group=group, rule_key="impact_degraded", kind="impact_degraded", severity="error",
        deploy=deploy, service=deploy.service, environment=deploy.environment, fingerprint="f" * 64,
        title="degraded", started_at=deploy.deployed_at, last_evaluated_at=deploy.deployed_at,
    )  # fmt: skip
    assert "1 alert" in row()


def test_a_services_metrics_are_every_name_posted_in_any_environment_and_every_name_configured(project):
    from metrics.impact.models import MetricSetting
    from metrics.impact.selectors import service_metric_names

    production, staging = record(project, 1), record(project, 2, environment="staging")
    earlier = record(project, 5)
    for deploy, names in ((production, ["p99", "auc"]), (earlier, ["p99"]), (staging, ["zeta", "auc", "b"])):
        for name in names:
            rollups(project, deploy, name, [1.0, 2.0])
    rollups(project, record(project, 3, service="other"), "elsewhere", [1.0])
    MetricSetting.objects.create(project=project, service=production.service, name="configured", direction="either")
    assert service_metric_names(service=production.service) == ["auc", "b", "configured", "p99", "zeta"]
    assert service_metric_names(service=record(project, 4, service="quiet").service) == []
