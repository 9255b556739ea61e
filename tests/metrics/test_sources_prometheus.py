"""Acceptance with a real Prometheus: deploys judged by querying it, exactly as if the values had been pushed.

A module-wide Prometheus serves backfilled series (promtool) for two deploys of `fraud-scorer`: the baseline
1.0 and the current 1.1, whose latency is ~20 % higher. The same values are pushed for `pushed-scorer` through
POST /api/v1/metrics, and both deploys must get the same verdict, p-value and Hodges-Lehmann shift.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import numpy as np
import pytest
from django.utils import timezone

from deployments.models import Deploy
from deployments.services import deploy_processed_mark, deploy_record
from metrics.impact.analysis import impact_compute
from metrics.impact.models import ImpactReport
from metrics.impact.selectors import impact_section
from metrics.impact.tasks import impacts_sweep
from metrics.sources import client, promql
from metrics.sources.models import MetricSource
from metrics.sources.selectors import source_gauges
from metrics.sources.services import fetcher
from tests.prometheus_server import PrometheusServer, openmetrics
from tests.receiver import Receiver, Reply

pytestmark = [pytest.mark.prometheus, pytest.mark.django_db]

STEP = 15
LATENCY = 'latency_ms{service="{{service}}",environment="{{environment}}",version="{{version}}"}'


class World:
    """Times and values shared by the backfill and the pushed copy (all on whole minutes, 15 s apart)."""

    def __init__(self) -> None:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        self.baseline_at = now - timedelta(hours=4)
        self.current_at = now - timedelta(hours=2)
        rng = np.random.default_rng(15)
        base_times = _times(self.current_at - timedelta(minutes=90), self.current_at)
        cur_times = _times(self.current_at, now - timedelta(minutes=5))
        # Values with 3 decimals: the text form both paths carry is exact.
        self.baseline = _values(base_times, rng.lognormal(4.6, 0.08, len(base_times)))
        self.current = _values(cur_times, rng.lognormal(4.78, 0.08, len(cur_times)))

    def series(self) -> str:
        labels = {"service": "fraud-scorer", "environment": "production"}
        many = [
            ("requests_latency", {**labels, "version": version, "pod": f"p{i}"}, [(t, 1.0 + i) for t, _ in samples])
            for version, samples in (("1.0", self.baseline), ("1.1", self.current))
            for i in range(50)
        ]
        return openmetrics(
            [
                ("latency_ms", {**labels, "version": "1.0"}, [(t.timestamp(), v) for t, v in self.baseline]),
                ("latency_ms", {**labels, "version": "1.1"}, [(t.timestamp(), v) for t, v in self.current]),
                *[(name, lab, [(t.timestamp(), v) for t, v in s]) for name, lab, s in many],
            ]
        )


def _values(times: list[datetime], values: np.ndarray) -> list[tuple[datetime, float]]:
    return [(t, round(float(v), 3)) for t, v in zip(times, values, strict=True)]


def _times(start: datetime, end: datetime) -> list[datetime]:
    return [start + timedelta(seconds=STEP * i) for i in range(int((end - start).total_seconds() // STEP))]


@pytest.fixture(scope="module")
def world() -> World:
    return World()


@pytest.fixture(scope="module")
def prometheus(world, tmp_path_factory):
    with PrometheusServer(tmp_path_factory.mktemp("prometheus"), world.series()) as server:
        yield server


def _deploys(project, world, service="fraud-scorer") -> tuple[Deploy, Deploy]:
    made = []
    for version, at in (("1.0", world.baseline_at), ("1.1", world.current_at)):
        deploy, _ = deploy_record(project=project, service=service, environment="production", version=version,
                                  finished_at=at)  # fmt: skip
        made.append(deploy_processed_mark(deploy_id=deploy.pk))
    return tuple(Deploy.objects.select_related("service").get(pk=d.pk) for d in made)


def _source(api, url, queries, **fields):
    body = {"kind": "prometheus", "name": "prod-prometheus", "url": url, "timeout_seconds": 5, "queries": queries,
            **fields}  # fmt: skip
    response = api.post("/api/v1/metric-sources", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _query(name="latency_ms", query=LATENCY, **fields):
    return {"service": "fraud-scorer", "name": name, "query": query, "step_seconds": STEP,
            "direction": "increase_is_bad", "critical": False, "allowed_change": 0.1, **fields}  # fmt: skip


def _push(api, world):
    points = [
        {"service": "pushed-scorer", "environment": "production", "name": "latency_ms", "value": v,
         "timestamp": t.isoformat()}
        for t, v in world.baseline + world.current
    ]  # fmt: skip
    response = api.post("/api/v1/metrics", data=json.dumps({"points": points}), content_type="application/json")
    assert response.status_code == 202, response.content


def _metric(deploy: Deploy, name: str = "latency_ms") -> dict:
    report = ImpactReport.objects.get(deploy=deploy)
    return next(m for m in report.metrics if m["name"] == name)


def test_a_deploy_judged_from_prometheus_matches_the_same_values_pushed(api, project, world, prometheus):
    _source(api, prometheus.url, [_query()])
    _, queried = _deploys(project, world)
    _, pushed = _deploys(project, world, service="pushed-scorer")
    _push(api, world)
    from_store, from_points = impact_compute(deploy=queried), impact_compute(deploy=pushed)
    a, b = _metric(queried), _metric(pushed)
    assert (from_store.verdict, from_store.final) == (from_points.verdict, True) == ("degraded", True)
    assert (
        (a["classification"], a["n_baseline"], a["n_current"]) == (b["classification"], 240, 220) == ("High", 240, 220)
    )
    for key in ("p_value", "u_statistic", "hl_estimate", "hl_ci_low", "hl_ci_high", "mean_ratio"):
        assert a[key] == pytest.approx(b[key], abs=1e-9, rel=0), key
    assert a["p_value"] < 1e-9 and 15 < a["hl_estimate"] < 25
    # The report names the source and the exact queries and ranges, ready to paste into Prometheus.
    assert a["source"]["name"] == "prod-prometheus"
    assert a["queries"]["baseline"]["query"] == (
        'latency_ms{service="fraud-scorer",environment="production",version="1.0"}'
    )
    assert a["queries"]["current"]["query"].endswith('version="1.1"}')
    start = world.current_at + timedelta(minutes=5)
    assert a["queries"]["current"]["start"] == start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert a["queries"]["current"]["end"] == (start + timedelta(minutes=55, milliseconds=-1)).strftime(
        "%Y-%m-%dT%H:%M:%S.999Z"
    )
    assert a["queries"]["current"]["step"] == "15s"
    api_metric = api.get(f"/api/v1/deploys/{queried.pk}/impact").json()["metrics"][0]
    assert api_metric["queries"] == a["queries"] and "chart" not in api_metric


def test_the_deploy_page_charts_the_queried_series_like_pushed_ones(client, alice, api, project, world, prometheus):
    _source(api, prometheus.url, [_query()])
    baseline, current = _deploys(project, world)
    impact_compute(deploy=current)
    prometheus.stop()  # the page never asks the store: the worker kept what the chart draws
    try:
        client.force_login(alice)
        page = client.get(f"/{project.slug}/deploys/{current.pk}/").content.decode()
    finally:
        prometheus.start()
    assert '<script id="impact-charts"' in page and "baseline 1.0" in page and "this deploy 1.1" in page
    section = impact_section(deploy=Deploy.objects.for_timeline().get(pk=current.pk), now=timezone.now())
    rows = section.series["latency_ms"]
    assert {r[1] for r in rows} == {baseline.pk, current.pk}
    assert sum(r[2] for r in rows) == 240 + 220 and all(r[2] == 4 for r in rows)


def _up() -> float:
    """The source's up gauge as /metrics exports it."""
    [up] = [family for family in source_gauges() if family.name == "deploy_tracker_metric_source_up"]
    [sample] = [s for s in up.samples if s.labels == {"project": "alpha", "source": "prod-prometheus"}]
    return sample.value


def test_prometheus_stopped_is_nodata_and_the_next_sweep_judges_it_again(api, project, world, tmp_path):
    server = PrometheusServer(tmp_path, world.series()).start()
    try:
        source = _source(api, server.url, [_query()])
        _, current = _deploys(project, world)
        server.stop()
        report = impact_compute(deploy=current)
        metric = _metric(current)
        assert metric["classification"] == "NoData" and "store unreachable" in metric["reason"]
        assert report.verdict == "insufficient_data" and report.final is False
        health = api.get(f"/api/v1/metric-sources/{source['id']}").json()["health"]
        assert health["healthy"] is False and "store unreachable" in health["last_error"]
        assert _up() == 0
        server.start()
        # The deploys' first messages were taken (in this test nothing consumes them after commit).
        ImpactReport.objects.update(sent_at=None)
        assert impacts_sweep() >= 1
        report.refresh_from_db()
        assert (report.verdict, report.final, _metric(current)["classification"]) == ("degraded", True, "High")
        assert api.get(f"/api/v1/metric-sources/{source['id']}").json()["health"]["healthy"] is True
        assert _up() == 1
    finally:
        server.stop()


def test_a_promql_syntax_error_is_nodata_with_prometheus_own_message(api, project, world, prometheus):
    _source(api, prometheus.url, [_query(query='rate(latency_ms{version="{{version}}"}[5m]')])
    _, current = _deploys(project, world)
    report = impact_compute(deploy=current)
    metric = _metric(current)
    assert metric["classification"] == "NoData" and report.verdict == "insufficient_data"
    assert "query error (bad_data, HTTP 400)" in metric["reason"] and "parse error" in metric["reason"]
    # A wrong query will not heal by waiting: the report may become final.
    assert report.final is True


def test_a_query_returning_50_series_is_nodata_asking_for_aggregation(api, project, world, prometheus):
    _source(
        api, prometheus.url, [_query(name="requests_latency", query=LATENCY.replace("latency_ms", "requests_latency"))]
    )
    _, current = _deploys(project, world)
    impact_compute(deploy=current)
    metric = _metric(current, "requests_latency")
    assert metric["classification"] == "NoData"
    assert "returned 50 series; at most 20" in metric["reason"] and "sum by" in metric["reason"]


def test_series_are_paired_by_labels_without_the_deploys_own_values(api, project, world, prometheus):
    query = 'requests_latency{version="{{version}}",pod=~"p[0-2]"}'
    _source(api, prometheus.url, [_query(name="pod_latency", query=query)])
    _, current = _deploys(project, world)
    impact_compute(deploy=current)
    names = sorted(m["name"] for m in ImpactReport.objects.get(deploy=current).metrics)
    expected = [f'pod_latency{{environment="production",pod="p{i}",service="fraud-scorer"}}' for i in range(3)]
    assert names == expected
    assert all(_metric(current, n)["n_baseline"] == 240 for n in names)


def test_an_ssrf_refused_url_is_a_saved_form_error(api, project):
    body = {"name": "meta", "url": "http://169.254.169.254/", "queries": [_query()]}
    response = api.post("/api/v1/metric-sources", body, format="json")
    assert response.status_code == 400
    assert "not a public address" in response.json()["error"]["fields"]["url"][0]
    assert not MetricSource.objects.exists()


def test_a_hanging_store_holds_the_worker_no_longer_than_the_source_timeout(api, project, world):
    with Receiver() as hanging:
        hanging.default = Reply(status=200, body=b"{}", delay=30)
        _source(api, hanging.url("/prom"), [_query(), _query(name="errors", query='errors{version="{{version}}"}')],
                timeout_seconds=2)  # fmt: skip
        _, current = _deploys(project, world)
        started = time.monotonic()
        report = impact_compute(deploy=current)
        elapsed = time.monotonic() - started
    assert elapsed < 2 + 1.5, elapsed
    reasons = [m["reason"] for m in report.metrics]
    assert len(reasons) == 2 and all("timed out" in r for r in reasons), reasons
    assert report.verdict == "insufficient_data" and report.final is False


def test_credentials_are_write_only_encrypted_and_sent_as_the_header(api, project, world):
    values = [[world.current_at.timestamp() + 600 + i * STEP, "1"] for i in range(40)]
    answer = {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": values}]}}
    with Receiver() as store:
        store.default = Reply(status=200, body=json.dumps(answer).encode())
        made = _source(api, store.url("/prometheus"), [_query()], bearer_token="s3cret-token")
        assert made["has_credentials"] is True and "s3cret" not in json.dumps(made)
        stored = MetricSource.objects.get(pk=made["id"]).credentials_encrypted
        assert stored and "s3cret" not in stored
        _, current = _deploys(project, world)
        impact_compute(deploy=current)
        [first, *_] = store.requests
    assert first.path == "/prometheus/api/v1/query_range" and first.method == "POST"
    assert first.headers["authorization"] == "Bearer s3cret-token"
    form = parse_qs(first.body.decode())
    assert form["query"] == ['latency_ms{service="fraud-scorer",environment="production",version="1.1"}']
    assert form["step"] == ["15s"]
    assert "x-scope-orgid" not in first.headers  # no tenant: Prometheus gets no tenant header


def test_a_multi_tenant_stores_tenant_is_sent_as_x_scope_orgid_beside_the_credentials(api, project, world):
    values = [[world.current_at.timestamp() + 600 + i * STEP, "1"] for i in range(40)]
    answer = {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": values}]}}
    with Receiver() as store:
        store.default = Reply(status=200, body=json.dumps(answer).encode())
        made = _source(api, store.url("/prometheus"), [_query()], bearer_token="tok", tenant="team-a|team-b")
        assert made["tenant"] == "team-a|team-b"
        _, current = _deploys(project, world)
        impact_compute(deploy=current)
        [first, *_] = store.requests
    assert first.headers["x-scope-orgid"] == "team-a|team-b" and first.headers["authorization"] == "Bearer tok"


def test_the_test_query_runs_in_the_worker_and_reports_series_samples_and_errors(
    api, project, world, prometheus, django_capture_on_commit_callbacks
):
    source = _source(api, prometheus.url, [_query(), _query(name="broken", query='up{x="{{version}}"')])
    _deploys(project, world)
    with django_capture_on_commit_callbacks(execute=True):
        queued = api.post(f"/api/v1/metric-sources/{source['id']}/test")
    assert queued.status_code == 202 and queued.json()["test"]["result"] is None
    result = api.get(f"/api/v1/metric-sources/{source['id']}").json()["test"]["result"]
    latency, broken = result["queries"]
    assert latency["series"] == 1 and 200 <= latency["samples"] <= 241 and latency["error"] == ""
    assert "parse error" in broken["error"] and result["first_error"].startswith("broken: query error")


@pytest.mark.parametrize(
    "value", ['1.0"} or vector(2) #', "back\\slash", 'quote"s', "new\nline\ttab", "ünïcödé ✓", "'single'", "\x01"]
)
def test_placeholders_reach_prometheus_as_exactly_the_deploys_value(prometheus, value):
    # label_replace copies the literal into a label: Prometheus' own parser tells what the literal meant.
    for template in ('label_replace(vector(1), "got", "{{version}}", "", "")',
                     "label_replace(vector(1), 'got', '{{version}}', '', '')"):  # fmt: skip
        rendered = promql.render(template, {"version": value})
        now = datetime.now(UTC).replace(microsecond=0)
        call = client.plan(rendered, start=now - timedelta(minutes=1), end=now, step_seconds=60)
        source = MetricSource(url=prometheus.url, timeout_seconds=5)
        [series] = client.query_range(fetcher(source), prometheus.url, call)
        assert series.labels == {"got": value}


def test_credentials_no_key_can_read_are_nodata_with_the_reason_and_nothing_is_sent(api, project, world, settings):
    from cryptography.fernet import Fernet

    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with Receiver() as store:
        _source(api, store.url("/"), [_query()], bearer_token="lost")
        settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
        _, current = _deploys(project, world)
        report = impact_compute(deploy=current)
    assert store.requests == []
    assert "cannot be decrypted" in _metric(current)["reason"] and report.verdict == "insufficient_data"


def test_an_unreachable_source_keeps_a_deploy_from_passing_on_its_pushed_metrics(api, project, world):
    with Receiver() as failing:
        failing.default = Reply(status=503, body=b"overloaded")
        _source(api, failing.url("/"), [_query()])
        _, current = _deploys(project, world)
        rng = np.random.default_rng(3)
        points = [
            {"service": "fraud-scorer", "environment": "production", "name": "accuracy",
             "value": float(rng.normal(95, 1)), "timestamp": t.isoformat()}
            for t, _ in world.baseline + world.current
        ]  # fmt: skip
        response = api.post("/api/v1/metrics", data=json.dumps({"points": points}), content_type="application/json")
        assert response.status_code == 202
        report = impact_compute(deploy=current)
    accuracy = _metric(current, "accuracy")
    assert accuracy["classification"] == "Pass"
    assert report.verdict == "insufficient_data" and report.final is False
    assert "metric source prod-prometheus did not answer" in report.reasons[0]
    assert "the store failed (HTTP 503)" in _metric(current)["reason"]


def test_the_test_query_of_a_hanging_store_takes_one_timeout(api, project, world, django_capture_on_commit_callbacks):
    with Receiver() as hanging:
        hanging.default = Reply(status=200, body=b"{}", delay=30)
        queries = [_query(), _query(name="errors", query='errors{version="{{version}}"}')]
        source = _source(api, hanging.url("/"), queries, timeout_seconds=2)
        _deploys(project, world)
        started = time.monotonic()
        with django_capture_on_commit_callbacks(execute=True):
            api.post(f"/api/v1/metric-sources/{source['id']}/test")
        elapsed = time.monotonic() - started
    result = api.get(f"/api/v1/metric-sources/{source['id']}").json()["test"]["result"]
    assert elapsed < 2 + 1.5, elapsed
    assert [("timed out" in row["error"]) for row in result["queries"]] == [True, True]
