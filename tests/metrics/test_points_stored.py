"""Every field of a posted point is stored exactly: binary COPY on PostgreSQL, bulk inserts on SQLite.

Run on both databases: the same body must read back the same points. Points are stored in chunks (one per series
and minute of a batch); `tests.metrics.stored` reads them back with `struct`, not with the product's decoder."""

from __future__ import annotations

import json
import math
import sys
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from deployments.models import Environment
from deployments.services import deploy_record
from metrics.impact.models import MetricChunk, MetricRollup
from tests.metrics.stored import stored_points

pytestmark = pytest.mark.django_db

ODD_VALUES = [0.1, -0.0, 5e-324, -sys.float_info.max, sys.float_info.max, 2.2250738585072014e-308,
              123456789.12345679, -1e-300, 1 / 3, 2.0**53 + 2, 42]  # fmt: skip
ODD_LABELS = [
    {"host": "h-1", "region": "eu-west-1"},
    {"quote": 'say "hi"', "backslash": "a\\b\\\\c", "tab": "a\tb", "newline": "a\nb", "nul-free": "é 日本 🚀"},
    {"big": 2**70, "negative": -(2**63), "float": 0.1, "tiny": 5e-324, "yes": True, "no": False, "none": None},
    {},
    None,
]


@pytest.fixture
def deploy(project):
    deploy, _ = deploy_record(
        project=project, service="svc", environment="production", version="v1",
        finished_at=timezone.now() - timedelta(hours=2),
    )  # fmt: skip
    Environment.objects.create(project=project, name="staging")  # a stream without a live deploy
    return deploy


def test_every_field_of_every_point_reads_back_exactly(api, deploy):
    now = timezone.now().replace(microsecond=0)
    points, expected = [], []
    for i in range(200):
        value = ODD_VALUES[i % len(ODD_VALUES)]
        labels = ODD_LABELS[i % len(ODD_LABELS)]
        ts = now - timedelta(minutes=i % 7, microseconds=(i * 7919) % 1_000_000)
        environment = "staging" if i % 9 == 0 else "production"
        point = {"service": "svc", "environment": environment, "name": f"lat.{i % 3}:ms/p-99_x", "value": value,
                 # epoch seconds (a float) for some, ISO 8601 with microseconds for the others
                 "timestamp": ts.timestamp() if i % 2 else ts.isoformat()}  # fmt: skip
        if labels is not None:
            point["labels"] = labels
        if i % 5 == 0 and environment == "production":
            point["deploy"] = deploy.pk if i % 10 else "v1"
        points.append(point)
        stored_labels = labels or None
        expected.append((point["name"], ts, value, stored_labels, None if environment == "staging" else deploy.pk))
    response = api.post("/api/v1/metrics", data=_encode({"points": points}), content_type="application/json")
    assert response.status_code == 202, response.content
    rows = [(p.name, p.ts, p.value, p.labels, p.deploy_id) for p in stored_points()]
    expected.sort(key=lambda row: (row[0], row[1]))
    assert len(rows) == len(expected) == len({(name, ts) for name, ts, *_ in expected})
    for got, want in zip(rows, expected, strict=True):
        assert got[0] == want[0]
        assert got[1] == want[1] and got[1].tzinfo is not None
        assert got[2] == want[2]
        if connection.vendor == "postgresql":  # SQLite itself stores -0.0 as 0.0
            assert math.copysign(1, got[2]) == math.copysign(1, want[2])
        assert got[3] == want[3]
        assert type(got[2]) is float
        assert got[4] == want[4]
    assert sum(MetricRollup.objects.values_list("count", flat=True)) == len(points)


def _encode(body: dict) -> bytes:
    """JSON with integers beyond 64 bits (orjson refuses them; the API accepts them as label values)."""
    return json.dumps(body).encode()


def test_a_batch_of_one_point_without_labels_or_deploy_is_stored(api, project):
    deploy_record(project=project, service="svc", environment="production", version="v1",
                  finished_at=timezone.now() + timedelta(hours=1))  # fmt: skip
    stamp = timezone.now()
    body = {"points": [{"service": "svc", "environment": "production", "name": "errors", "value": 3}]}
    response = api.post("/api/v1/metrics", data=_encode(body), content_type="application/json")
    assert response.status_code == 202, response.content
    ((name, ts, value, labels, deploy_id, *_),) = stored_points()
    assert (name, value, labels, deploy_id) == ("errors", 3.0, None, None)
    assert abs(ts - stamp) < timedelta(seconds=30)


def test_a_batch_is_stored_as_one_chunk_per_series_and_minute_in_the_judges_index_order(api, deploy):
    """Chunks go in as the (deploy, name, minute) index orders them, whatever the order posted, each holding its
    series' points of that minute in time order."""
    now = timezone.now().replace(second=30, microsecond=0) - timedelta(minutes=5)
    posted = [
        {"service": "svc", "environment": environment, "name": name, "value": float(i),
         "timestamp": (now - timedelta(seconds=s)).isoformat(), **({"labels": {"r": "eu"}} if s == 2 else {})}
        for i, (environment, name, s) in enumerate(
            [("production", "b", 1), ("staging", "b", 5), ("production", "a", 3), ("production", "b", 9),
             ("staging", "a", 2), ("production", "a", 7), ("production", "a", 1), ("staging", "b", 4),
             ("production", "a", 40)]
        )
    ]  # fmt: skip
    response = api.post("/api/v1/metrics", data=json.dumps({"points": posted}), content_type="application/json")
    assert response.status_code == 202, response.content
    chunks = list(MetricChunk.objects.order_by("id").values_list("deploy_id", "name", "minute", "labels", "count"))
    minute = now.replace(second=0)
    # Points of the staging stream have no deploy: they come first (no deploy sorts before any deploy id).
    assert chunks == [
        (None, "a", minute, {"r": "eu"}, 1),
        (None, "b", minute, None, 2),
        (deploy.pk, "a", minute - timedelta(minutes=1), None, 1),  # 40 s before hh:mm:30 is the minute before
        (deploy.pk, "a", minute, None, 3),
        (deploy.pk, "b", minute, None, 2),
    ]
    assert [p.value for p in stored_points(deploy=deploy, name="a")] == [8.0, 5.0, 2.0, 6.0]  # in time order


def test_the_minute_rollups_hold_exact_counts_and_extremes_across_batches(api, deploy):
    minute = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=3)
    batches = [[0.1, 5e-324, -123456.789, 2.5], [98765.4321, -0.0, 1 / 3], [7.0]]
    for values in batches:
        stamps = [(minute + timedelta(seconds=i)).timestamp() for i in range(len(values))]
        points = [{"service": "svc", "environment": "production", "name": "lat", "value": value, "timestamp": stamp}
                  for value, stamp in zip(values, stamps, strict=True)]  # fmt: skip
        response = api.post("/api/v1/metrics", data=_encode({"points": points}), content_type="application/json")
        assert response.status_code == 202, response.content
    everything = [value for values in batches for value in values]
    rollup = MetricRollup.objects.get(name="lat")
    assert (rollup.minute, rollup.deploy_key, rollup.count) == (minute, deploy.pk, len(everything))
    assert (rollup.min_value, rollup.max_value) == (-123456.789, 98765.4321)
    assert rollup.total == pytest.approx(sum(everything), rel=1e-12)


def test_the_points_admin_lists_the_last_minutes_chunks_newest_first_without_a_page_per_chunk(
    admin_client, api, deploy
):
    """The raw points have no index on id (PostgreSQL): the admin reads their chunks by minute only."""
    from metrics.impact.admin import MetricChunkAdmin

    now = timezone.now().replace(second=30, microsecond=0)
    ages = [timedelta(minutes=1), timedelta(seconds=5), MetricChunkAdmin.RECENT + timedelta(minutes=5)]
    points = [{"service": "svc", "environment": "production", "name": f"n{i}", "value": i,
               "timestamp": (now - age).isoformat()} for i, age in enumerate(ages)]  # fmt: skip
    points.append({**points[1], "value": -2.5})
    response = api.post("/api/v1/metrics", data=_encode({"points": points}), content_type="application/json")
    assert response.status_code == 202, response.content
    with mock.patch("metrics.impact.admin.timezone.now", return_value=now):
        page = admin_client.get("/admin/impact/metricchunk/")
    assert page.status_code == 200
    listed = list(page.context["cl"].result_list)
    minute = now.replace(second=0)
    assert [(c.name, c.minute, c.count) for c in listed] == [("n1", minute, 2), ("n0", minute - ages[0], 1)]
    assert "-2.5 … 1" in page.content.decode()  # the chunk's value range
    assert "/admin/impact/metricchunk/" + str(listed[0].pk) not in page.content.decode()
