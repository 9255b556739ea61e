"""The ingest paths' few statements: what each upsert reports, and the debounced requests they make.

The store sends its last writes together (tracker.sql.execute_together: one round trip on PostgreSQL), and opens
or marks reports with upserts whose RETURNING names the deploys to enqueue. Run on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments.services import deploy_record
from metrics.drift.models import DriftReport
from metrics.drift.services import drift_mark_due
from metrics.impact.models import ImpactReport
from tracker.counters import event_counts_statement
from tracker.models import EventCount
from tracker.sql import execute_together, insert_values

pytestmark = pytest.mark.django_db


@pytest.fixture
def deploy(project):
    deploy, _ = deploy_record(
        project=project, service="svc", environment="production", version="1", finished_at=timezone.now()
    )
    ImpactReport.objects.filter(deploy=deploy).delete()
    DriftReport.objects.filter(deploy=deploy).delete()
    return deploy


def post_points(api, n: int = 3, **extra) -> dict:
    now = timezone.now().timestamp()
    points = [{"service": "svc", "environment": "production", "name": "latency", "value": float(i), "timestamp": now}
              for i in range(n)]  # fmt: skip
    response = api.post("/api/v1/metrics", {"points": points, **extra}, format="json")
    assert response.status_code in (200, 202), response.content
    return response.json()


def test_a_batch_opens_its_deploys_report_and_one_message_waits_for_a_worker_however_many_batches_follow(
    api, deploy, django_capture_on_commit_callbacks
) -> None:
    with mock.patch("metrics.impact.tasks.impact_compute.apply_async") as send:
        with django_capture_on_commit_callbacks(execute=True):
            assert post_points(api)["deploys"] == {str(deploy.pk): 3}
        with django_capture_on_commit_callbacks(execute=True):
            post_points(api)
    report = ImpactReport.objects.get(deploy=deploy)
    assert report.requested_at is not None and report.verdict == "pending" and report.reasons == []
    # Each batch counts as new data for the sweep; one message is in flight until a worker claims it.
    assert (report.data_version, report.computed_version) == (2, 0)
    assert [c.kwargs["args"] for c in send.call_args_list] == [(deploy.pk,)]


def test_a_batch_after_the_message_was_taken_asks_again_and_a_final_report_is_never_asked(
    api, deploy, django_capture_on_commit_callbacks
) -> None:
    ImpactReport.objects.create(deploy=deploy, requested_at=timezone.now() - timedelta(minutes=1), sent_at=None)
    with mock.patch("metrics.impact.tasks.impact_compute.apply_async") as send:
        with django_capture_on_commit_callbacks(execute=True):
            post_points(api)
        ImpactReport.objects.filter(deploy=deploy).update(final=True, requested_at=None)
        with django_capture_on_commit_callbacks(execute=True):
            post_points(api)
    assert [c.kwargs["args"] for c in send.call_args_list] == [(deploy.pk,)]
    report = ImpactReport.objects.get(deploy=deploy)
    assert report.requested_at is None and report.data_version == 1


def test_a_duplicate_batch_counts_nothing_and_a_stored_one_counts_its_points_once(api, deploy) -> None:
    post_points(api, n=4, batch_id="b-1")
    post_points(api, n=4, batch_id="b-1")
    counts = dict(EventCount.objects.values_list("name", "count"))
    assert counts["deploy_tracker_ingested_points"] == 4
    assert counts["deploy_tracker_ingested_batches"] == 1


def test_a_metrics_batch_takes_a_fixed_number_of_statements_whatever_its_size(api, deploy) -> None:
    post_points(api, n=2)  # the series are registered and remembered once
    counts = []
    for n in (10, 1000):
        with CaptureQueriesContext(connection) as queries:
            post_points(api, n=n)
        # PostgreSQL stores the points with one COPY (not a query here); SQLite inserts their chunks in batches.
        counts.append(sum(1 for q in queries if not q["sql"].startswith('INSERT INTO "impact_metricchunk"')))
    assert counts[0] == counts[1] <= 9


def test_a_batch_id_costs_one_statement_and_no_savepoint(api, deploy) -> None:
    post_points(api, n=2)
    with CaptureQueriesContext(connection) as plain:
        post_points(api, n=10)
    with CaptureQueriesContext(connection) as keyed:
        assert post_points(api, n=10, batch_id="k-1")["duplicate"] is False
    with CaptureQueriesContext(connection) as again:
        assert post_points(api, n=10, batch_id="k-1")["duplicate"] is True
    assert len(keyed) == len(plain) + 1
    # The test's own transaction makes the store's atomic block a savepoint: the batch id adds none.
    savepoints = [sum("SAVEPOINT" in q["sql"] for q in c.captured_queries) for c in (plain, keyed, again)]
    assert savepoints[0] == savepoints[1] == savepoints[2]
    assert len(again) < len(plain)  # a duplicate stores nothing and stops after the claim


def test_a_batch_over_several_streams_finds_their_live_deploys_in_the_same_statements(api, project) -> None:
    now = timezone.now()
    record = lambda service, environment, version, hours_ago, **extra: deploy_record(  # noqa: E731
        project=project, service=service, environment=environment, version=version,
        finished_at=now - timedelta(hours=hours_ago), **extra,
    )[0]  # fmt: skip
    old, new = record("svc", "production", "1", 5), record("svc", "production", "2", 2)
    record("svc", "production", "2-shadow", 1, strategy="shadow")  # serves no traffic: never attributed
    staging = record("svc", "staging", "1", 3)
    record("other", "production", "1", 1)  # "other" in staging: a stream without a deploy

    def point(service: str, environment: str, hours_ago: float) -> dict:
        stamp = (now - timedelta(hours=hours_ago)).timestamp()
        return {"service": service, "environment": environment, "name": "x", "value": 1.0, "timestamp": stamp}

    post = lambda points: api.post("/api/v1/metrics", {"points": points}, format="json")  # noqa: E731
    points = [point("svc", "production", 6), point("svc", "production", 4), point("svc", "production", 0.5),
              point("svc", "staging", 4), point("svc", "staging", 1), point("other", "staging", 1)]  # fmt: skip
    assert post(points).status_code == 202  # the series are registered once
    with CaptureQueriesContext(connection) as one_stream:
        assert post([point("svc", "production", 0.5)]).status_code == 202
    with CaptureQueriesContext(connection) as streams:
        response = post(points)
    assert response.status_code == 202, response.content
    assert response.json()["deploys"] == {str(old.pk): 1, str(new.pk): 1, str(staging.pk): 1}
    assert len(streams) == len(one_stream)


def test_drift_is_marked_due_once_until_claimed(deploy, django_capture_on_commit_callbacks) -> None:
    with mock.patch("metrics.drift.tasks.drift_compute.apply_async") as send:
        with django_capture_on_commit_callbacks(execute=True):
            drift_mark_due(deploy_id=deploy.pk)
            drift_mark_due(deploy_id=deploy.pk)
        DriftReport.objects.filter(deploy=deploy).update(due_at=None)
        with django_capture_on_commit_callbacks(execute=True):
            drift_mark_due(deploy_id=deploy.pk)
    assert send.call_count == 2
    assert DriftReport.objects.get(deploy=deploy).status == "pending"


def test_statements_sent_together_run_in_order_and_answer_with_the_last_ones_rows(deploy) -> None:
    sql, params = insert_values([ImpactReport(deploy_id=deploy.pk)])
    rows = execute_together(
        [
            event_counts_statement(("a_counter", 2, {}), ("b_counter", 1, {"kind": "x"})),
            None,
            (sql + " ON CONFLICT (deploy_id) DO NOTHING RETURNING deploy_id", params),
        ]
    )
    assert rows == [(deploy.pk,)]
    execute_together([event_counts_statement(("a_counter", 3, {}))])
    assert dict(EventCount.objects.values_list("name", "count")) == {"a_counter": 5, "b_counter": 1}
    assert EventCount.objects.get(name="b_counter").labels == '{"kind":"x"}'
