"""Series caps on POST /api/v1/metrics: metric names per service, label sets per metric name."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from deployments.models import Service
from deployments.services import deploy_record
from metrics.impact import cardinality
from metrics.impact.models import MetricBatch, MetricLabelSet, MetricName, MetricRollup
from metrics.points import validate_points
from tests.helpers import client_for, error_code
from tests.metrics.stored import stored_count

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _forget_seen_series():
    # Ids repeat between tests on SQLite: what one test's process remembered must not reach the next.
    cardinality._SEEN_TODAY.clear()
    yield
    cardinality._SEEN_TODAY.clear()


@pytest.fixture
def caps(settings):
    settings.METRIC_MAX_NAMES_PER_SERVICE = 3
    settings.METRIC_MAX_LABEL_SETS_PER_METRIC = 2
    return settings


@pytest.fixture
def stream(project):
    for service in ("fraud-scorer", "ranker"):
        deploy_record(
            project=project,
            service=service,
            environment="production",
            version="1.0",
            finished_at=timezone.now() - timedelta(hours=3),
        )


def _point(name="latency_ms", labels=None, service="fraud-scorer"):
    point = {"service": service, "environment": "production", "name": name, "value": 1.0}
    return point | ({"labels": labels} if labels is not None else {})


def _post(client, points, **body):
    return client.post("/api/v1/metrics", data=json.dumps({"points": points, **body}), content_type="application/json")


def _stored():
    return stored_count(), MetricRollup.objects.count(), MetricBatch.objects.count()


def test_a_batch_with_more_new_names_than_the_cap_allows_stores_nothing_and_names_the_limit(api, stream, caps):
    assert _post(api, [_point("a"), _point("b")]).status_code == 202
    before = _stored()
    response = _post(api, [_point("a"), _point("c"), _point("d"), _point("c")], batch_id="over")
    assert response.status_code == 422, response.content
    assert error_code(response) == "cardinality_limit"
    error = response.json()["error"]
    assert "METRIC_MAX_NAMES_PER_SERVICE" in error["message"] and "limit of 3" in error["message"]
    assert "'fraud-scorer'" in error["message"]
    assert error["fields"]["points"] == {
        str(i): {"name": ["a new metric name beyond the limit of 3 per service"]} for i in (1, 2, 3)
    }
    assert _stored() == before  # no points, rollups or batch id of the refused batch
    assert sorted(MetricName.objects.values_list("name", flat=True)) == ["a", "b"]
    assert _post(api, [_point("c"), _point("a")], batch_id="over").status_code == 202  # the id was not used up


def test_known_series_are_still_accepted_at_the_cap_and_each_service_has_its_own(api, stream, caps):
    assert _post(api, [_point(n) for n in "abc"]).status_code == 202
    assert _post(api, [_point(n) for n in "cba"] * 10).status_code == 202
    assert _post(api, [_point("d")]).status_code == 422
    assert _post(api, [_point(n, service="ranker") for n in "xyz"]).status_code == 202


def test_label_sets_are_capped_per_metric_whatever_the_key_order(api, stream, caps):
    first = {"region": "eu", "host": "h1"}
    assert _post(api, [_point(labels=first), _point(labels={"host": "h1", "region": "eu"})]).status_code == 202
    assert _post(api, [_point(), _point(labels=first)]).status_code == 202  # no labels: the second set
    response = _post(api, [_point(labels=first), _point(labels={"region": "us", "host": "h1"})])
    assert response.status_code == 422 and error_code(response) == "cardinality_limit"
    assert "METRIC_MAX_LABEL_SETS_PER_METRIC" in response.json()["error"]["message"]
    assert response.json()["error"]["fields"]["points"] == {
        "1": {"labels": ["a new label set beyond the limit of 2 per metric"]}
    }
    assert _post(api, [_point("other", labels={"region": "us"})]).status_code == 202  # another metric's budget
    assert MetricLabelSet.objects.filter(metric__name="latency_ms").count() == 2


def test_the_default_caps_are_200_names_and_1000_label_sets(api, stream):
    assert _post(api, [_point(f"m{i}") for i in range(200)]).status_code == 202
    assert _post(api, [_point("m200")]).status_code == 422
    # m0 has one label set already (no labels): 999 more make the 1,000 allowed.
    assert _post(api, [_point("m0", {"request": str(i)}) for i in range(999)]).status_code == 202
    assert _post(api, [_point("m0", {"request": "one more"})]).status_code == 422


def test_the_retention_sweep_forgets_series_not_posted_within_the_retention(api, stream, caps):
    from metrics.impact.tasks import metrics_retention

    assert _post(api, [_point(n) for n in "abc"]).status_code == 202
    long_ago = timezone.now().date() - timedelta(days=31)
    MetricName.objects.filter(name__in=["a", "b"]).update(last_seen=long_ago)
    MetricLabelSet.objects.filter(metric__name__in=["a", "b"]).update(last_seen=long_ago)
    metrics_retention()
    assert sorted(MetricName.objects.values_list("name", flat=True)) == ["c"]
    assert _post(api, [_point("d"), _point("e")]).status_code == 202


def test_posting_a_known_series_marks_it_seen_today(api, stream, caps):
    assert _post(api, [_point("a", {"k": "v"})]).status_code == 202
    MetricName.objects.update(last_seen=timezone.now().date() - timedelta(days=5))
    MetricLabelSet.objects.update(last_seen=timezone.now().date() - timedelta(days=5))
    assert _post(api, [_point("a", {"k": "v"})]).status_code == 202
    today = timezone.now().date()
    assert MetricName.objects.get().last_seen == today and MetricLabelSet.objects.get().last_seen == today


def test_a_batch_of_known_series_costs_one_query_and_takes_no_lock(api, stream, caps, django_assert_num_queries):
    assert _post(api, [_point("a", {"k": "v"}), _point("b")]).status_code == 202
    service = Service.objects.select_related("project").get(name="fraud-scorer")
    batch = validate_points([_point("b"), _point("a", {"k": "v"})] * 50, now=time.time(), retention_days=30)
    with django_assert_num_queries(1):  # the lookup; the lock is a query of its own, taken for new series only
        cardinality.series_admit(project=service.project, batch=batch, service_ids=np.full(100, service.pk))


def test_series_this_process_saw_today_cost_no_query_once_committed(
    api, stream, caps, django_assert_num_queries, django_capture_on_commit_callbacks
):
    service = Service.objects.select_related("project").get(name="fraud-scorer")
    batch = validate_points([_point("b"), _point("a", {"k": "v"})] * 50, now=time.time(), retention_days=30)
    admit = lambda: cardinality.series_admit(  # noqa: E731
        project=service.project, batch=batch, service_ids=np.full(100, service.pk)
    )
    with django_capture_on_commit_callbacks(execute=False):
        admit()  # registered, but never committed: not remembered
    with django_capture_on_commit_callbacks(execute=True), django_assert_num_queries(1):
        admit()
    with django_assert_num_queries(0):
        admit()
    cardinality._SEEN_TODAY.update(dict.fromkeys(cardinality._SEEN_TODAY, timezone.now().date() - timedelta(days=1)))
    with django_assert_num_queries(1):  # yesterday's memory counts for nothing
        admit()


def _post_together(token: str, batches: list[list[dict]]) -> list[int]:
    barrier = threading.Barrier(len(batches))
    statuses: list[int] = [0] * len(batches)

    def worker(index: int) -> None:
        try:
            barrier.wait()
            statuses[index] = _post(client_for(token), batches[index]).status_code
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_of_new_names_never_pass_the_cap(token, stream, caps, monkeypatch):
    # Widen the race on purpose: every batch pauses between counting the names and inserting its new ones.
    # Without the lock on the service row all six would count 0 and insert; with it they take turns.
    create = MetricName.objects.bulk_create

    def slow_create(*args, **kwargs):
        time.sleep(0.3)
        return create(*args, **kwargs)

    monkeypatch.setattr(MetricName.objects, "bulk_create", slow_create)
    batches = [[_point(f"t{i}-a"), _point(f"t{i}-b")] for i in range(6)]
    statuses = _post_together(token, batches)
    assert sorted(statuses) == [202] + [422] * 5, statuses  # 2 names fit under 3; a second pair would make 4
    assert MetricName.objects.count() == 2
    assert stored_count() == 2
