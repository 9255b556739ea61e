"""The stored points, read back from their chunks with the standard library (not the product's decoder).

A chunk's `stamps` are big-endian int64 microseconds since the Unix epoch and its `values` big-endian float64, in
the same order (metrics/impact/chunks.py); this module reads them with `struct`, so a test that uses it checks the
storage format, not the product's reading of it."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from metrics.impact.models import MetricChunk

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class StoredPoint(NamedTuple):
    name: str
    ts: datetime
    value: float
    labels: dict | None
    deploy_id: int | None
    service_id: int
    environment_id: int
    project_id: int
    minute: datetime


def stored_points(**filters) -> list[StoredPoint]:
    """Every stored point of the chunks matching `filters`, ordered by name, then time."""
    points = []
    chunks = MetricChunk.objects.filter(**filters).values_list(
        "name", "labels", "deploy_id", "service_id", "environment_id", "project_id", "minute", "count", "stamps",
        "values",
    )  # fmt: skip
    for name, labels, deploy, service, environment, project, minute, count, stamps, values in chunks:
        stamps, values = bytes(stamps), bytes(values)
        assert len(stamps) == len(values) == 8 * count
        times = struct.unpack(f">{count}q", stamps)
        assert list(times) == sorted(times), "a chunk's points are in time order"
        for micros, value in zip(times, struct.unpack(f">{count}d", values), strict=True):
            ts = EPOCH + timedelta(microseconds=micros)
            assert minute <= ts < minute + timedelta(minutes=1), "a chunk holds its minute's points only"
            points.append(StoredPoint(name, ts, value, labels, deploy, service, environment, project, minute))
    return sorted(points, key=lambda p: (p.name, p.ts))


def stored_count(**filters) -> int:
    """How many points the chunks matching `filters` hold."""
    return sum(MetricChunk.objects.filter(**filters).values_list("count", flat=True))
