"""The judge reads a window's points from their chunks: exactly the posted points inside the window, or, above
MAX_JUDGED_VALUES, the earliest points of each sampled minute, across every batch's chunk of that minute.

The expected reads are computed here from the posted points themselves (plain Python sorting), not from the
product's chunks. Run on both databases (binary COPY and `substring` of bytea on PostgreSQL, BLOBs on SQLite)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from metrics.impact import analysis
from metrics.impact.analysis import Side, minute_counts, read_window
from metrics.impact.models import MetricChunk, MetricRollup
from tests.metrics.test_impact_api import _deploy

pytestmark = pytest.mark.django_db

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.fixture
def posted(api, project):
    """Three batches of one series over the same ten minutes, interleaved in time, with a label on every third
    point: (time in microseconds, value, region) of each point posted."""
    deploy = _deploy(project, "1.0", 60)
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=20)
    rng = np.random.default_rng(4)
    points = []
    for _ in range(3):
        offsets = rng.integers(0, 600_000_000, 400)  # microseconds into the ten minutes
        body = []
        for i, offset in enumerate(offsets.tolist()):
            at = start + timedelta(microseconds=offset)
            value = float(rng.normal(100, 10))
            region = ("eu", "us")[i % 2] if i % 3 == 0 else None
            point = {"service": "fraud-scorer", "environment": "production", "name": "latency_ms", "value": value,
                     "timestamp": at.isoformat()}  # fmt: skip
            body.append(point | {"labels": {"region": region}} if region else point)
            points.append(((at - EPOCH) // timedelta(microseconds=1), value, region))
        response = api.post("/api/v1/metrics", data=json.dumps({"points": body}), content_type="application/json")
        assert response.status_code == 202, response.content
    return deploy, start, points


def _side(deploy, start, end) -> Side:
    chunks = MetricChunk.objects.filter(name="latency_ms", deploy_id=deploy.pk)
    rollups = MetricRollup.objects.filter(name="latency_ms", deploy_key=deploy.pk)
    return Side(chunks, rollups, start, end)


def _micros(at: datetime) -> int:
    return (at - EPOCH) // timedelta(microseconds=1)


def test_a_window_reads_exactly_its_points_from_every_batchs_chunks(posted):
    deploy, start, points = posted
    assert MetricChunk.objects.count() >= 30  # ten minutes x three batches: one chunk per series, minute and batch
    lo, hi = start + timedelta(minutes=2), start + timedelta(minutes=7)
    side = _side(deploy, lo, hi)
    read = read_window(side, minute_counts(side))
    expected = sorted((t, v) for t, v, _ in points if _micros(lo) <= t < _micros(hi))
    assert sorted(zip(read.stamps.tolist(), read.values.tolist(), strict=True)) == expected
    assert sum(count for _, count in minute_counts(side)) == len(expected)


def test_a_sampled_window_reads_the_earliest_points_of_each_sampled_minute(posted, monkeypatch):
    deploy, start, points = posted
    monkeypatch.setattr(analysis, "MAX_JUDGED_VALUES", 100)
    monkeypatch.setattr(analysis, "SAMPLED_MINUTES", 4)
    side = _side(deploy, start, start + timedelta(minutes=10))
    per_minute = minute_counts(side)
    minutes, quota = analysis.sample_plan(per_minute)
    assert len(minutes) == 4 and quota == 25  # every third minute of ten (0, 3, 6, 9), 25 points from each
    read = read_window(side, per_minute)
    expected = []
    for minute in minutes:
        first = _micros(minute)
        inside = sorted((t, v) for t, v, _ in points if first <= t < first + 60_000_000)
        expected += inside[:quota]
    assert sorted(zip(read.stamps.tolist(), read.values.tolist(), strict=True)) == sorted(expected)


def test_a_labelled_read_carries_each_chunks_label(posted):
    deploy, start, points = posted
    end = start + timedelta(minutes=10)
    side = _side(deploy, start, end)
    labelled = side.chunks.filter(labels__has_key="region").annotate(segment=KeyTextTransform("region", "labels"))
    read = read_window(side, minute_counts(side), chunks=labelled, extra=("segment",))
    rows = zip(read.stamps.tolist(), read.values.tolist(), read.owners.tolist(), strict=True)
    got = sorted((t, v, read.extra[owner][0]) for t, v, owner in rows)
    assert got == sorted(p for p in points if p[2] is not None)
