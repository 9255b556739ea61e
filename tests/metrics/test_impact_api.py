"""POST /api/v1/metrics, GET /deploys/{id}/impact and /verdict, metric settings — against the database."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.db.models import F
from django.utils import timezone

from deployments.models import Deploy
from deployments.services import deploy_processed_mark, deploy_record
from metrics.impact.analysis import impact_compute
from metrics.impact.models import ImpactReport, MetricBatch, MetricChunk, MetricRollup, MetricSetting
from tests.helpers import client_for, error_code
from tests.metrics.stored import stored_count, stored_points
from tracker.models import AuditLog

pytestmark = pytest.mark.django_db


def _deploy(project, version, minutes_ago, service="fraud-scorer", **fields):
    deploy, _ = deploy_record(
        project=project,
        service=service,
        environment="production",
        version=version,
        finished_at=timezone.now() - timedelta(minutes=minutes_ago),
        **fields,
    )
    deploy_processed_mark(deploy_id=deploy.pk)
    deploy.refresh_from_db()
    return deploy


@pytest.fixture
def stream(project):
    """A baseline deploy 3 hours ago and the current deploy 30 minutes ago."""
    return _deploy(project, "1.0", 180), _deploy(project, "1.1", 30)


def _point(minutes_ago, value, name="latency_ms", **extra):
    stamp = (timezone.now() - timedelta(minutes=minutes_ago)).isoformat()
    return {
        "service": "fraud-scorer",
        "environment": "production",
        "name": name,
        "value": value,
        "timestamp": stamp,
    } | extra


def _post(client, points, **body):
    return client.post("/api/v1/metrics", data=json.dumps({"points": points, **body}), content_type="application/json")


def _stored():
    return stored_count(), MetricRollup.objects.count(), MetricBatch.objects.count()


def test_it_stores_a_batch_and_attributes_each_point_to_the_deploy_live_at_its_time(api, stream):
    baseline, current = stream
    response = _post(api, [_point(60, 10.0), _point(45, 12.0), _point(10, 20.0)])
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == 3
    assert response.json()["deploys"] == {str(baseline.pk): 2, str(current.pk): 1}
    assert sorted((p.deploy_id, p.value) for p in stored_points()) == sorted(
        [(baseline.pk, 10.0), (baseline.pk, 12.0), (current.pk, 20.0)]
    )


def test_it_rolls_points_up_per_minute_with_count_sum_min_and_max(api, stream):
    baseline, _ = stream
    minute = (timezone.now() - timedelta(minutes=60)).replace(second=10, microsecond=0)
    points = [
        _point(0, v) | {"timestamp": (minute + timedelta(seconds=i)).isoformat()} for i, v in enumerate([1, 5, 3])
    ]
    assert _post(api, points).status_code == 202
    assert _post(api, [points[0] | {"value": 7.0}]).status_code == 202  # a second batch adds to the same minute
    rollup = MetricRollup.objects.get()
    assert (rollup.deploy_key, rollup.count, rollup.total, rollup.min_value, rollup.max_value) == (
        baseline.pk, 4, 16.0, 1.0, 7.0,
    )  # fmt: skip
    assert rollup.total_squares == 1 + 25 + 9 + 49
    assert rollup.minute == minute.replace(second=0)


def test_it_stores_labels_exactly_even_with_backslashes_quotes_and_tabs(api, stream):
    labels = {"path": "C:\\models\\v2", "quote": 'say "hi"\tthen\nleave', "n": 3, "ok": True, "é": "ü"}
    assert _post(api, [_point(10, 1.0, labels=labels), _point(10, 2.0)]).status_code == 202
    assert sorted((p.labels for p in stored_points()), key=str) == sorted([labels, None], key=str)


def test_it_accepts_ndjson(api, stream):
    body = "\n".join(json.dumps(_point(10, v)) for v in (1.0, 2.0))
    response = api.post("/api/v1/metrics", data=body, content_type="application/x-ndjson")
    assert response.status_code == 202 and response.json()["accepted"] == 2


def test_a_point_can_name_its_deploy_by_version_or_id(api, stream):
    baseline, current = stream
    response = _post(api, [_point(10, 1.0, deploy="1.0"), _point(10, 2.0, deploy=current.pk)])
    assert response.status_code == 202
    assert sorted((p.value, p.deploy_id) for p in stored_points()) == [(1.0, baseline.pk), (2.0, current.pk)]


BAD_POINTS = [
    ("not a number", {"value": "12"}, "value"),
    ("a boolean", {"value": True}, "value"),
    ("a day in the future", {"timestamp": "2099-01-01T00:00:00Z"}, "timestamp"),
    ("older than the retention", {"timestamp": "2001-01-01T00:00:00Z"}, "timestamp"),
    ("an over-long name", {"name": "m" * 201}, "name"),
    ("too many labels", {"labels": {f"k{i}": i for i in range(17)}}, "labels"),
    ("an unknown service", {"service": "nobody"}, "service"),
    ("an unknown environment", {"environment": "moon"}, "environment"),
    ("an unknown deploy", {"deploy": "9.9.9"}, "deploy"),
]


@pytest.mark.parametrize("label,overrides,field", BAD_POINTS, ids=[b[0] for b in BAD_POINTS])
def test_it_rejects_a_bad_point_by_index_and_stores_nothing(project, make_token, stream, label, overrides, field):
    ingest = client_for(make_token(project, ["ingest"]))
    response = _post(ingest, [_point(10, 1.0), _point(10, 2.0) | overrides], batch_id="b-1")
    assert response.status_code == 400, response.content
    assert error_code(response) == "invalid"
    assert field in response.json()["error"]["fields"]["points"]["1"]
    assert _stored() == (0, 0, 0)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_it_rejects_nan_and_infinities_by_index(api, stream, literal):
    body = json.dumps({"points": [_point(10, 1.0), _point(10, 0.0)]}).replace('"value": 0.0', f'"value": {literal}')
    response = api.post("/api/v1/metrics", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["points"]["1"]["value"] == ["must be finite (no NaN or Infinity)"]
    assert _stored() == (0, 0, 0)


def test_it_rejects_more_than_10000_points(api, stream):
    response = _post(api, [_point(10, 1.0)] * 10_001)
    assert response.status_code == 400 and "at most 10000" in response.json()["error"]["message"]
    assert _stored() == (0, 0, 0)


def test_it_rejects_an_oversize_body_with_413(api, stream):
    body = json.dumps({"points": [_point(10, 1.0) | {"labels": {"pad": "x" * 190}}] * 70_000})
    assert len(body) > 16 * 1024 * 1024
    response = api.post("/api/v1/metrics", data=body, content_type="application/json")
    assert response.status_code == 413
    assert error_code(response) == "body_too_large"
    assert _stored() == (0, 0, 0)


@pytest.mark.parametrize("body", ["{oops", '{"points": "many"}', "[]"])
def test_it_rejects_a_malformed_body(api, stream, body):
    response = api.post("/api/v1/metrics", data=body, content_type="application/json")
    assert response.status_code == 400
    assert _stored() == (0, 0, 0)


def test_it_refuses_a_body_that_is_not_json_with_415(api, stream):
    response = api.post("/api/v1/metrics", data="latency_ms 12", content_type="text/plain")
    assert response.status_code == 415 and error_code(response) == "unsupported_media_type"


def test_a_retried_batch_id_stores_nothing_twice(api, stream):
    points = [_point(10, 1.0), _point(9, 2.0)]
    first = _post(api, points, batch_id="run-7-batch-1")
    again = _post(api, points, batch_id="run-7-batch-1")
    header = api.post(
        "/api/v1/metrics", data=json.dumps({"points": points}), content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="run-7-batch-1",
    )  # fmt: skip
    assert (first.status_code, again.status_code, header.status_code) == (202, 200, 200)
    assert again.json()["duplicate"] is True and again.json()["accepted"] == 0
    assert stored_count() == 2
    # One rollup per point's minute (a minute apart), each counted once: not by the clock at the end, which moved
    # past a minute's boundary when the test ran in the last second of one.
    assert sorted(MetricRollup.objects.values_list("count", flat=True)) == [1, 1]


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_of_one_batch_id_store_it_once(token, stream, monkeypatch):
    """The batch id's unique constraint settles the race: the others wait for the first to commit, then answer
    duplicate. Every batch pauses after claiming its id, so that they all claim while the first is open."""
    from metrics.impact import services

    resolve = services._streams_resolve

    def slow_resolve(*args, **kwargs):
        time.sleep(0.3)
        return resolve(*args, **kwargs)

    monkeypatch.setattr(services, "_streams_resolve", slow_resolve)
    barrier, statuses = threading.Barrier(4), []

    def worker() -> None:
        try:
            barrier.wait()
            statuses.append(_post(client_for(token), [_point(10, 1.0), _point(9, 2.0)], batch_id="race-1").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [200, 200, 200, 202]
    assert _stored() == (2, 2, 1)


def test_a_token_without_the_ingest_scope_cannot_post(project, make_token, stream):
    response = _post(client_for(make_token(project, ["read"])), [_point(10, 1.0)])
    assert response.status_code == 403 and error_code(response) == "insufficient_scope"


def test_an_admin_token_may_create_a_service_by_posting_its_metrics(api, project, stream):
    response = _post(api, [_point(10, 1.0, service="new-svc")])
    assert response.status_code == 202
    assert project.services.filter(name="new-svc").exists()


def test_another_projects_token_cannot_write_to_or_read_this_projects_series(
    project, other_project, make_token, stream
):
    _, current = stream
    outsider_ingest = client_for(make_token(other_project, ["ingest", "read"]))
    rejected = _post(outsider_ingest, [_point(10, 1.0)])
    assert rejected.status_code == 400  # "fraud-scorer" does not exist in the outsider's project
    assert outsider_ingest.get("/api/v1/metric-settings", {"service": "fraud-scorer"}).status_code == 404
    outsider_admin = client_for(make_token(other_project, ["ingest", "read", "admin"]))
    assert _post(outsider_admin, [_point(10, 1.0), _point(10, 2.0, deploy=current.pk)]).status_code == 400
    assert _post(outsider_admin, [_point(10, 1.0)]).status_code == 202  # lands in the outsider's own service
    assert stored_count(project=project) == 0
    assert [p.deploy_id for p in stored_points()] == [None]
    for path in (f"/api/v1/deploys/{current.pk}/impact", f"/api/v1/deploys/{current.pk}/verdict"):
        response = outsider_ingest.get(path)
        assert response.status_code == 404 and error_code(response) == "not_found"


# --- the judged report through the API ---------------------------------------------------------------


def _post_windows(api, baseline_values, current_values, name="latency_ms"):
    # Baseline deploy: the 50 minutes before the current deploy (30 min ago); current: its last 24 minutes.
    base = [_point(80 - 50 * i / len(baseline_values), float(v), name) for i, v in enumerate(baseline_values)]
    cur = [_point(24 - 23 * i / len(current_values), float(v), name) for i, v in enumerate(current_values)]
    assert _post(api, base + cur).status_code == 202


def test_a_20_percent_latency_rise_is_degraded_through_the_gate(api, stream):
    _, current = stream
    rng = np.random.default_rng(1)
    _post_windows(api, rng.normal(100, 8, 200), rng.normal(120, 8, 200))
    impact_compute(deploy=Deploy.objects.select_related("service").get(pk=current.pk))

    gate = api.get(f"/api/v1/deploys/{current.pk}/verdict").json()
    assert gate["verdict"] == "degraded" and gate["score"] == 0.0 and gate["final"] is False
    assert any("latency_ms: significantly higher than baseline" in r for r in gate["reasons"])
    report = api.get(f"/api/v1/deploys/{current.pk}/impact").json()
    metric = report["metrics"][0]
    assert (metric["n_baseline"], metric["n_current"], metric["classification"]) == (200, 200, "High")
    assert metric["windows"]["baseline_deploy"] == current.baseline_id
    assert report["compute_ms"] is not None


def test_identical_windows_are_healthy_and_a_deploy_without_data_is_insufficient(api, stream):
    _, current = stream
    series = np.random.default_rng(2).normal(100, 8, 200)
    _post_windows(api, series, series)
    impact_compute(deploy=Deploy.objects.select_related("service").get(pk=current.pk))
    assert api.get(f"/api/v1/deploys/{current.pk}/verdict").json()["verdict"] == "healthy"

    lonely = _deploy(current.project, "1.2", 1, service="lonely")
    impact_compute(
        deploy=Deploy.objects.select_related("service").get(pk=lonely.pk), now=timezone.now() + timedelta(minutes=20)
    )
    assert api.get(f"/api/v1/deploys/{lonely.pk}/verdict").json()["verdict"] == "insufficient_data"


def test_the_verdict_becomes_final_at_the_end_of_the_observation_window(api, stream):
    _, current = stream
    impact_compute(
        deploy=Deploy.objects.select_related("service").get(pk=current.pk), now=timezone.now() + timedelta(minutes=31)
    )
    assert ImpactReport.objects.get(deploy=current).final is True


def test_a_deploy_not_yet_judged_is_pending_and_a_rollback_answers_rollback(api, project, stream):
    _, current = stream
    assert api.get(f"/api/v1/deploys/{current.pk}/verdict").json()["verdict"] == "pending"
    rollback = _deploy(project, "1.0", 1)
    assert rollback.is_rollback
    gate = api.get(f"/api/v1/deploys/{rollback.pk}/verdict").json()
    assert (gate["verdict"], gate["final"]) == ("rollback", True)


def test_a_critical_metric_setting_makes_one_failure_degrade_the_deploy(api, stream):
    _, current = stream
    rng = np.random.default_rng(3)
    for i in range(19):
        _post_windows(api, rng.normal(50, 4, 60), rng.normal(50, 4, 60), name=f"m{i}")
    _post_windows(api, rng.normal(0.01, 0.002, 60), rng.normal(0.02, 0.002, 60), name="error_rate")
    settings = api.put("/api/v1/metric-settings/fraud-scorer/error_rate", data={"critical": True}, format="json")
    assert settings.status_code == 200 and settings.json()["critical"] is True
    impact_compute(deploy=Deploy.objects.select_related("service").get(pk=current.pk))
    gate = api.get(f"/api/v1/deploys/{current.pk}/verdict").json()
    assert (gate["verdict"], gate["score"]) == ("degraded", 95.0)


# --- metric settings ----------------------------------------------------------------------------


def test_metric_settings_list_defaults_from_the_name_and_stored_settings(api, stream):
    _post(api, [_point(10, 1.0, name="accuracy"), _point(10, 1.0, name="latency_ms")])
    response = api.put(
        "/api/v1/metric-settings/fraud-scorer/latency_ms",
        data={"allowed_change": 0.2, "min_samples": 50, "warmup_minutes": 2},
        format="json",
    )
    assert response.status_code == 200
    rows = {r["name"]: r for r in api.get("/api/v1/metric-settings", {"service": "fraud-scorer"}).json()["results"]}
    assert rows["accuracy"]["direction"] == "decrease_is_bad" and rows["accuracy"]["configured"] is False
    assert (rows["latency_ms"]["direction"], rows["latency_ms"]["allowed_change"]) == ("increase_is_bad", 0.2)
    assert AuditLog.objects.filter(action="metric_setting.saved").count() == 1


def test_a_metric_setting_keeps_its_unit_until_it_is_cleared(api, stream):
    response = api.put("/api/v1/metric-settings/fraud-scorer/latency_ms", data={"unit": "ms"}, format="json")
    assert response.status_code == 200 and response.json()["unit"] == "ms"
    api.put("/api/v1/metric-settings/fraud-scorer/latency_ms", data={"critical": True}, format="json")
    rows = {r["name"]: r for r in api.get("/api/v1/metric-settings", {"service": "fraud-scorer"}).json()["results"]}
    assert rows["latency_ms"]["unit"] == "ms"  # an update that leaves it out keeps it
    response = api.put("/api/v1/metric-settings/fraud-scorer/latency_ms", data={"unit": ""}, format="json")
    assert response.json()["unit"] == ""
    too_long = api.put("/api/v1/metric-settings/fraud-scorer/latency_ms", data={"unit": "x" * 21}, format="json")
    assert too_long.status_code == 400 and "unit" in too_long.json()["error"]["fields"]


@pytest.mark.parametrize(
    "body,field", [({"direction": "up"}, "direction"), ({"allowed_change": -1}, "allowed_change"), ({"x": 1}, "x")]
)
def test_metric_settings_reject_bad_values_and_store_nothing(api, stream, body, field):
    response = api.put("/api/v1/metric-settings/fraud-scorer/latency_ms", data=body, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert MetricSetting.objects.count() == 0


def test_metric_settings_need_the_admin_scope(project, make_token, stream):
    client = client_for(make_token(project, ["read", "ingest"]))
    response = client.put("/api/v1/metric-settings/fraud-scorer/latency_ms", data={"critical": True}, format="json")
    assert response.status_code == 403


# --- background work: retention and the sweep ------------------------------------------------------------


def test_retention_deletes_raw_points_and_batch_ids_past_the_setting_and_keeps_rollups_longer(api, stream, settings):
    assert _post(api, [_point(10, 1.0), _point(9, 2.0)], batch_id="old").status_code == 202
    oldest = MetricChunk.objects.order_by("minute").first()  # the point of 10 minutes ago (value 1.0), alone
    MetricChunk.objects.filter(pk=oldest.pk).update(minute=F("minute") - timedelta(days=31))
    MetricBatch.objects.update(received_at=timezone.now() - timedelta(days=31))
    MetricRollup.objects.update(minute=F("minute") - timedelta(days=200))
    from metrics.impact.tasks import metrics_retention

    assert metrics_retention() == 1
    assert [p.value for p in stored_points()] == [2.0]
    assert not MetricBatch.objects.exists() and MetricRollup.objects.exists()
    settings.METRIC_ROLLUP_RETENTION_DAYS = 100
    metrics_retention()
    assert not MetricRollup.objects.exists()


def test_the_sweep_sends_a_deploy_whose_data_changed_and_skips_final_and_judged_ones(stream, monkeypatch):
    baseline, current = stream
    from metrics.impact import tasks

    sent = []
    monkeypatch.setattr(tasks, "send_now", lambda task, deploy_id: sent.append(deploy_id))
    assert impact_compute(deploy=baseline).final  # its window ended long ago
    assert not impact_compute(deploy=current).final
    ImpactReport.objects.update(sent_at=None)  # as when a worker took their messages
    tasks.impacts_sweep()
    assert sent == []  # nothing came in since the current deploy was judged
    ImpactReport.objects.filter(deploy=current).update(data_version=F("data_version") + 1)
    tasks.impacts_sweep()
    assert sent == [current.pk]


def test_a_final_report_is_not_recomputed(api, stream):
    _, current = stream
    ImpactReport.objects.update_or_create(deploy=current, defaults={"final": True, "verdict": "healthy"})
    from metrics.impact.tasks import impact_compute as task

    task(current.pk)
    assert ImpactReport.objects.get(deploy=current).computed_at is None


@pytest.mark.parametrize(("distinct", "spread"), [(3, 1_000_003), (10_000, 1_000_003), (9, 1), (12_000, 1)])
def test_rollup_grouping_matches_grouping_by_tuple_for_few_and_for_very_many_distinct_keys(distinct, spread):
    from metrics.points import group_rows

    rng = np.random.default_rng(distinct)
    # Spread values are sorted to codes; values in a range no wider than the column (codes already, -1 included)
    # are their own codes. 10k^5 > 2^62: the fallback.
    columns = tuple((rng.integers(0, distinct, 10_000) - 1) * spread for _ in range(5))
    keys, inverse = group_rows(columns)
    rows = list(zip(*(c.tolist() for c in columns), strict=True))
    assert list(map(tuple, keys.tolist())) == sorted(set(rows))  # distinct, in lexicographic order
    assert [tuple(keys[i]) for i in inverse] == rows


def test_a_seasonal_baseline_compares_with_the_same_hours_one_week_earlier(api, stream):
    _, current = stream
    assert api.put(
        "/api/v1/metric-settings/fraud-scorer/conversion_rate", data={"seasonal_baseline": True}, format="json"
    ).json()["seasonal_baseline"]
    rng = np.random.default_rng(8)
    week = 7 * 24 * 60
    last_week = [
        _point(week + 24 - 23 * i / 150, float(v), "conversion_rate") for i, v in enumerate(rng.normal(0.12, 0.01, 150))
    ]
    now = [_point(24 - 23 * i / 150, float(v), "conversion_rate") for i, v in enumerate(rng.normal(0.09, 0.01, 150))]
    assert _post(api, last_week + now).status_code == 202
    impact_compute(deploy=Deploy.objects.select_related("service").get(pk=current.pk))
    metric = api.get(f"/api/v1/deploys/{current.pk}/impact").json()["metrics"][0]
    assert metric["windows"]["seasonal"] is True and metric["windows"]["baseline_deploy"] is None
    assert (metric["n_baseline"], metric["n_current"], metric["classification"]) == (150, 150, "Low")


def test_big_windows_are_judged_on_a_sample_stratified_by_minute_with_the_true_counts(api, stream, monkeypatch):
    from metrics.impact import analysis

    _, current = stream
    rng = np.random.default_rng(9)
    _post_windows(api, rng.normal(100, 8, 600), rng.normal(120, 8, 600))
    monkeypatch.setattr(analysis, "MAX_JUDGED_VALUES", 120)
    impact_compute(deploy=Deploy.objects.select_related("service").get(pk=current.pk))
    metric = ImpactReport.objects.get(deploy=current).metrics[0]
    assert (metric["n_baseline"], metric["n_current"]) == (600, 600)  # every point counted, from the rollups
    assert 100 <= metric["judged_baseline"] <= 170 and 100 <= metric["judged_current"] <= 170
    assert metric["classification"] == "High"


@pytest.mark.parametrize("field", ["name", "service", "environment"])
def test_a_name_ending_in_a_newline_is_refused_by_index_not_a_500(api, stream, field):
    # `$` also matches before a final newline: "latency_ms\n" passed the pattern and broke PostgreSQL's COPY.
    point = _point(10, 1.0) | {field: _point(10, 1.0)[field] + "\n"}
    response = _post(api, [_point(10, 1.0), point])
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]["points"]["1"]
    assert _stored() == (0, 0, 0)
