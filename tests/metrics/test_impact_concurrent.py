"""Concurrent impact: a canary judged against its baseline's points in the same window, and segments.

Statistics are checked against SciPy on the generated values; the verdicts against what the data was made to say.
"""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from django.utils import timezone
from scipy import stats

from deployments.models import Deploy
from deployments.services import deploy_processed_mark, deploy_record
from metrics.impact.analysis import impact_compute
from metrics.impact.models import ImpactReport, MetricSetting

pytestmark = pytest.mark.django_db

SERVICE, ENVIRONMENT = "fraud-scorer", "production"


def _deploy(project, version, minutes_ago, **extra):
    deploy, _ = deploy_record(
        project=project,
        service=SERVICE,
        environment=ENVIRONMENT,
        version=version,
        finished_at=timezone.now() - timedelta(minutes=minutes_ago),
        **extra,
    )
    deploy_processed_mark(deploy_id=deploy.pk)
    return Deploy.objects.select_related("service").get(pk=deploy.pk)


def _points(values, start_ago, end_ago, deploy=None, name="latency_ms", labels=None):
    """Values spread evenly from `start_ago` to `end_ago` minutes ago, attributed to `deploy` when given."""
    out = []
    for i, value in enumerate(values):
        stamp = timezone.now() - timedelta(minutes=start_ago - (start_ago - end_ago) * i / len(values))
        point = {"service": SERVICE, "environment": ENVIRONMENT, "name": name, "value": float(value),
                 "timestamp": stamp.isoformat()}  # fmt: skip
        if deploy is not None:
            point["deploy"] = deploy
        if labels is not None:
            point["labels"] = labels[i] if isinstance(labels, list) else labels
        out.append(point)
    return out


def _post(api, points):
    for start in range(0, len(points), 10_000):
        body = json.dumps({"points": points[start : start + 10_000]})
        response = api.post("/api/v1/metrics", data=body, content_type="application/json")
        assert response.status_code == 202, response.content


@pytest.fixture
def canary(project):
    """1.0 served alone for hours; 1.1 went out 30 minutes ago as a 10 % canary beside it."""
    _deploy(project, "1.0", 180)
    return _deploy(project, "1.1", 30, strategy="canary", traffic_percent=10)


def _set_mode(api, mode):
    response = api.patch(f"/api/v1/services/{SERVICE}/settings", {"impact_mode": mode}, format="json")
    assert response.status_code == 200, response.content


def test_a_regression_in_the_canary_alone_is_degraded_in_concurrent_mode_with_scipys_u_and_p(api, canary):
    rng = np.random.default_rng(1)
    before = rng.normal(100, 8, 300)
    control, treated = rng.normal(100, 8, 400), rng.normal(125, 8, 200)
    _post(api, _points(before, 80, 31, deploy="1.0"))
    _post(api, _points(control, 24, 1, deploy="1.0") + _points(treated, 24, 1))  # the canary's points unnamed

    report = impact_compute(deploy=canary)

    assert (report.verdict, report.mode) == ("degraded", "concurrent")
    [metric] = report.metrics
    assert (metric["n_baseline"], metric["n_current"], metric["mode"]) == (400, 200, "concurrent")
    expected = stats.mannwhitneyu(treated, control, alternative="two-sided")
    assert metric["u_statistic"] == pytest.approx(expected.statistic, rel=1e-12)
    assert metric["p_value"] == pytest.approx(expected.pvalue, rel=1e-9, abs=1e-300)
    # Both windows are the same minutes: the control's points beside the canary, not its earlier traffic.
    assert metric["baseline_window"] == metric["current_window"] == report.current_window
    assert report.baseline_window == report.current_window
    assert report.current_window["start"] >= (canary.deployed_at + timedelta(minutes=5)).isoformat()  # warm-up


def test_a_spike_in_both_arms_is_healthy_concurrently_and_degraded_sequentially(api, canary):
    rng = np.random.default_rng(2)
    _post(api, _points(rng.normal(100, 8, 300), 80, 31, deploy="1.0"))
    # A global incident in the window: both arms' latency rises alike.
    spike_control, spike_canary = rng.normal(160, 10, 400), rng.normal(160, 10, 200)
    _post(api, _points(spike_control, 24, 1, deploy="1.0") + _points(spike_canary, 24, 1, deploy="1.1"))

    concurrent = impact_compute(deploy=canary)
    assert (concurrent.verdict, concurrent.mode) == ("healthy", "concurrent")
    p = stats.mannwhitneyu(spike_canary, spike_control, alternative="two-sided").pvalue
    assert concurrent.metrics[0]["p_value"] == pytest.approx(p, rel=1e-9)

    _set_mode(api, "sequential")
    sequential = impact_compute(deploy=Deploy.objects.select_related("service").get(pk=canary.pk))
    assert (sequential.verdict, sequential.mode) == ("degraded", "sequential")
    assert sequential.metrics[0]["n_baseline"] == 300  # the baseline's last hour before the canary
    assert sequential.baseline_window["end"] <= canary.deployed_at.isoformat() < sequential.current_window["start"]


def test_too_few_control_points_in_the_window_is_insufficient_data_not_a_sequential_pass(api, canary):
    rng = np.random.default_rng(3)
    _post(api, _points(rng.normal(100, 8, 300), 80, 31, deploy="1.0"))
    _post(api, _points(rng.normal(100, 8, 5), 24, 1, deploy="1.0") + _points(rng.normal(100, 8, 200), 24, 1))

    report = impact_compute(deploy=canary)

    assert (report.verdict, report.mode) == ("insufficient_data", "concurrent")
    assert report.metrics[0]["classification"] == "NoData" and report.metrics[0]["n_baseline"] == 5
    assert any("not enough control points" in reason for reason in report.reasons)


def test_forced_concurrent_mode_without_control_points_is_insufficient_data(api, project):
    _deploy(project, "1.0", 180)
    rolling = _deploy(project, "1.1", 30)  # not a canary: auto would judge it sequentially
    rng = np.random.default_rng(4)
    _post(api, _points(rng.normal(100, 8, 300), 80, 31) + _points(rng.normal(100, 8, 300), 24, 1))
    assert impact_compute(deploy=rolling).mode == "sequential"

    _set_mode(api, "concurrent")
    report = impact_compute(deploy=Deploy.objects.select_related("service").get(pk=rolling.pk))

    assert (report.verdict, report.mode, report.metrics[0]["n_baseline"]) == ("insufficient_data", "concurrent", 0)


def test_a_canary_whose_baseline_gets_no_points_in_the_window_is_judged_sequentially_in_auto_mode(api, canary):
    rng = np.random.default_rng(5)
    _post(api, _points(rng.normal(100, 8, 300), 80, 31, deploy="1.0") + _points(rng.normal(100, 8, 300), 24, 1))

    report = impact_compute(deploy=canary)

    assert (report.verdict, report.mode) == ("healthy", "sequential")


def test_a_regression_in_one_region_degrades_that_segment_and_the_deploy_when_critical(api, project, canary):
    MetricSetting.objects.create(project=project, service=canary.service, name="latency_ms",
                                 direction="increase_is_bad", critical=True)  # fmt: skip
    _set_mode(api, None)
    api.patch(f"/api/v1/services/{SERVICE}/settings", {"segment_labels": ["region"]}, format="json")
    rng = np.random.default_rng(6)
    regions = ["us-east"] * 300 + ["eu-west"] * 100 + ["ap-south"] * 60
    control = rng.normal(100, 8, len(regions))
    treated = rng.normal(100, 8, len(regions))
    eu = np.array([r == "eu-west" for r in regions])
    treated[eu] = rng.normal(140, 8, int(eu.sum()))  # only eu-west regresses
    labels = [{"region": r} for r in regions]
    _post(api, _points(control, 24, 1, deploy="1.0", labels=labels) + _points(treated, 24, 1, labels=labels))

    report = impact_compute(deploy=canary)

    assert report.mode == "concurrent" and report.verdict == "degraded"
    [worst, *rest] = report.segments["region"]
    assert (worst["value"], worst["verdict"], worst["failed"]) == ("eu-west", "degraded", ["latency_ms"])
    assert worst["metrics"][0]["classification"] == "High" and worst["n"] == 100
    p = stats.mannwhitneyu(treated[eu], control[eu], alternative="two-sided").pvalue
    assert worst["metrics"][0]["p_value"] == pytest.approx(p, rel=1e-9)
    assert [(s["value"], s["verdict"]) for s in rest] == [("us-east", "healthy"), ("ap-south", "healthy")]
    assert report.reasons[0] == "degraded: critical metric failing in a segment: latency_ms in region=eu-west"
    assert any(r.startswith("latency_ms in region=eu-west (critical): significantly higher") for r in report.reasons)


def test_segments_are_the_twenty_largest_values_by_volume(api, project, canary):
    api.patch(f"/api/v1/services/{SERVICE}/settings", {"segment_labels": ["client"]}, format="json")
    rng = np.random.default_rng(7)
    # 25 clients, client c<i> with 40 + i points per arm: c0..c4 are the smallest and left out.
    clients = [f"c{i}" for i in range(25) for _ in range(40 + i)]
    labels = [{"client": c} for c in clients]
    _post(api, _points(rng.normal(100, 8, len(clients)), 24, 1, deploy="1.0", labels=labels))
    _post(api, _points(rng.normal(100, 8, len(clients)), 24, 1, labels=labels))

    report = impact_compute(deploy=canary)

    judged = report.segments["client"]
    assert len(judged) == 20 and {s["value"] for s in judged} == {f"c{i}" for i in range(5, 25)}
    assert all(s["verdict"] == "healthy" for s in judged)
    assert [s["n"] for s in judged] == sorted((s["n"] for s in judged), reverse=True)  # ties in verdict: largest first


def test_a_small_segment_is_reported_as_insufficient_and_never_degrades_the_deploy(api, project, canary):
    MetricSetting.objects.create(project=project, service=canary.service, name="latency_ms",
                                 direction="increase_is_bad", critical=True)  # fmt: skip
    api.patch(f"/api/v1/services/{SERVICE}/settings", {"segment_labels": ["region"]}, format="json")
    rng = np.random.default_rng(8)
    regions = ["us-east"] * 300 + ["tiny"] * 10
    labels = [{"region": r} for r in regions]
    treated = rng.normal(100, 8, len(regions))
    treated[-10:] = 500.0  # awful, but on 10 points: below min_samples
    _post(api, _points(rng.normal(100, 8, len(regions)), 24, 1, deploy="1.0", labels=labels))
    _post(api, _points(treated, 24, 1, labels=labels))

    report = impact_compute(deploy=canary)

    assert report.verdict == "healthy"
    by_value = {s["value"]: s for s in report.segments["region"]}
    assert by_value["tiny"]["verdict"] == "insufficient_data" and by_value["us-east"]["verdict"] == "healthy"
    assert [s["value"] for s in report.segments["region"]] == ["tiny", "us-east"]  # worst first


def test_the_report_api_carries_mode_windows_and_segments(api, project, canary):
    api.patch(f"/api/v1/services/{SERVICE}/settings", {"segment_labels": ["region"]}, format="json")
    rng = np.random.default_rng(9)
    labels = [{"region": "eu-west" if i % 2 else "us-east"} for i in range(200)]
    _post(api, _points(rng.normal(100, 8, 200), 24, 1, deploy="1.0", labels=labels))
    _post(api, _points(rng.normal(100, 8, 200), 24, 1, labels=labels))
    impact_compute(deploy=canary)

    body = api.get(f"/api/v1/deploys/{canary.pk}/impact").json()  # validated against the OpenAPI schema

    assert body["mode"] == "concurrent" and body["baseline_window"] == body["current_window"]
    assert set(body["current_window"]) == {"start", "end"}
    assert body["metrics"][0]["mode"] == "concurrent"
    assert [s["value"] for s in body["segments"]["region"]] == ["eu-west", "us-east"]


def test_a_report_stored_before_the_named_windows_reads_with_them(api, project, canary):
    # The deploy task opened the report already: write over it as an old computation would have left it.
    ImpactReport.objects.update_or_create(deploy=canary, defaults=dict(
        verdict="healthy", computed_at=timezone.now(),
        metrics=[{"name": "latency_ms", "classification": "Pass", "direction": "increase_is_bad", "critical": False,
                  "allowed_change": 0.1, "min_samples": 30, "n_baseline": 40, "n_current": 40, "judged_baseline": 40,
                  "judged_current": 40, "mean_baseline": 1.0, "mean_current": 1.0, "median_baseline": 1.0,
                  "median_current": 1.0, "relative_change": 0.0, "p_value": 0.5, "hl_estimate": 0.0,
                  "hl_ci_low": 0.0, "hl_ci_high": 0.0, "failed": False, "improved": False, "reason": "ok",
                  "windows": {"baseline": ["2026-01-01T00:00:00+00:00", "2026-01-01T01:00:00+00:00"],
                              "current": ["2026-01-01T02:00:00+00:00", "2026-01-01T03:00:00+00:00"]}}],
    ))  # fmt: skip

    body = api.get(f"/api/v1/deploys/{canary.pk}/impact").json()

    assert body["mode"] == "sequential" and body["segments"] == {}
    metric = body["metrics"][0]
    assert metric["baseline_window"] == {"start": "2026-01-01T00:00:00+00:00", "end": "2026-01-01T01:00:00+00:00"}


def test_the_deploy_page_shows_the_mode_both_windows_and_the_failing_segment(client, alice, api, project, canary):
    api.patch(f"/api/v1/services/{SERVICE}/settings", {"segment_labels": ["region"]}, format="json")
    rng = np.random.default_rng(10)
    regions = ["us-east"] * 200 + ["eu-west"] * 100
    labels = [{"region": r} for r in regions]
    treated = rng.normal(100, 8, 300)
    treated[200:] = rng.normal(150, 8, 100)
    _post(api, _points(rng.normal(100, 8, 300), 24, 1, deploy="1.0", labels=labels))
    _post(api, _points(treated, 24, 1, labels=labels))
    impact_compute(deploy=canary)
    client.force_login(alice)

    html = client.get(f"/{project.slug}/deploys/{canary.pk}/").content.decode()

    assert 'data-mode="concurrent"' in html and 'id="impact-baseline-window"' in html
    rows = html.split('data-segment-key="region"')[1].split("</table>")[0]
    assert rows.index('data-segment="region=eu-west" data-verdict="degraded"') < rows.index("region=us-east")
    assert "latency_ms High" in rows


def test_a_sampled_window_counts_each_segment_exactly_and_still_finds_the_regression(api, project, canary, monkeypatch):
    import metrics.impact.analysis as analysis

    monkeypatch.setattr(analysis, "MAX_JUDGED_VALUES", 300)
    api.patch(f"/api/v1/services/{SERVICE}/settings", {"segment_labels": ["region"]}, format="json")
    rng = np.random.default_rng(11)
    regions = ["us-east"] * 700 + ["eu-west"] * 500
    labels = [{"region": r} for r in rng.permutation(regions)]
    treated = rng.normal(100, 8, len(labels))
    eu = np.array([label["region"] == "eu-west" for label in labels])
    treated[eu] = rng.normal(150, 8, int(eu.sum()))
    _post(api, _points(rng.normal(100, 8, len(labels)), 24, 1, deploy="1.0", labels=labels))
    _post(api, _points(treated, 24, 1, labels=labels))

    report = impact_compute(deploy=canary)

    whole = report.metrics[0]
    assert whole["judged_current"] < 400 < whole["n_current"]  # the window was sampled (about 300 read)
    by_value = {s["value"]: s for s in report.segments["region"]}
    eu_west, us_east = by_value["eu-west"], by_value["us-east"]
    assert not eu_west["n_estimated"] and eu_west["metrics"][0]["classification"] == "High"
    assert report.segments["region"][0]["value"] == "eu-west"
    # The counts are the points posted with each label, although only a sample of the values was read.
    assert (eu_west["n"], us_east["n"]) == (500, 700) and eu_west["n"] + us_east["n"] == whole["n_current"]
    assert eu_west["metrics"][0]["n_current"] == 500 and eu_west["metrics"][0]["judged_current"] < 500


def test_the_queries_of_a_computation_do_not_grow_with_segments_or_points(api, project, canary):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    api.patch(f"/api/v1/services/{SERVICE}/settings", {"segment_labels": ["region", "client"]}, format="json")
    rng = np.random.default_rng(12)

    def post(regions):
        labels = [{"region": f"r{i % regions}", "client": f"c{i % 3}"} for i in range(60 * regions)]
        for name in ("latency_ms", "errors"):
            _post(api, _points(rng.normal(100, 8, len(labels)), 24, 1, deploy="1.0", name=name, labels=labels))
            _post(api, _points(rng.normal(100, 8, len(labels)), 24, 1, deploy="1.1", name=name, labels=labels))

    post(2)
    with CaptureQueriesContext(connection) as few:
        impact_compute(deploy=canary)
    post(25)
    with CaptureQueriesContext(connection) as many:
        report = impact_compute(deploy=canary)
    assert len(report.segments["region"]) == 20 and len(report.segments["client"]) == 3
    assert len(many.captured_queries) == len(few.captured_queries)


def test_a_metric_source_is_queried_per_arm_over_the_same_window_in_concurrent_mode(api, project, canary):
    from urllib.parse import parse_qs

    from tests.receiver import Receiver, Reply

    _set_mode(api, "concurrent")
    start = (canary.deployed_at + timedelta(minutes=6)).timestamp()
    values = [[start + 15 * i, str(100 + i % 7)] for i in range(60)]
    answer = {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": values}]}}
    query = {"service": SERVICE, "name": "latency_ms", "query": 'latency_ms{version="{{version}}"}',
             "step_seconds": 15, "direction": "increase_is_bad", "critical": False, "allowed_change": 0.1}  # fmt: skip
    with Receiver() as store:
        store.default = Reply(status=200, body=json.dumps(answer).encode())
        body = {"kind": "prometheus", "name": "prom", "url": store.url("/prom"), "queries": [query]}
        assert api.post("/api/v1/metric-sources", body, format="json").status_code == 201
        report = impact_compute(deploy=Deploy.objects.select_related("service").get(pk=canary.pk))
        forms = [parse_qs(r.body.decode()) for r in store.requests]

    assert (report.mode, report.verdict) == ("concurrent", "healthy")
    assert sorted(f["query"][0] for f in forms) == ['latency_ms{version="1.0"}', 'latency_ms{version="1.1"}']
    assert forms[0]["start"] == forms[1]["start"] and forms[0]["end"] == forms[1]["end"]
    assert report.metrics[0]["baseline_window"] == report.metrics[0]["current_window"]


def test_the_compare_page_shows_the_two_arms_judged_in_the_same_window(client, alice, api, project, canary):
    rng = np.random.default_rng(12)
    control, treated = rng.normal(100, 8, 300), rng.normal(125, 8, 200)
    _post(api, _points(control, 24, 1, deploy="1.0") + _points(treated, 24, 1))
    impact_compute(deploy=canary)
    client.force_login(alice)

    html = client.get(f"/{project.slug}/compare/{canary.baseline_id}/{canary.pk}/").content.decode()

    section = html.split('id="compare-concurrent"')[1].split("</section>")[0]
    assert "judged against its champion's own traffic over the same minutes" in section
    row = section.split('class="concurrent-row failing"')[1].split("</tr>")[0]
    assert "latency_ms" in row and "300 / 200" in row and "High" in row
    # A deploy judged one after the other has no such section.
    ImpactReport.objects.filter(deploy=canary).update(mode="sequential")
    assert (
        'id="compare-concurrent"'
        not in client.get(f"/{project.slug}/compare/{canary.baseline_id}/{canary.pk}/").content.decode()
    )
