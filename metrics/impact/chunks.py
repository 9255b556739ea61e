"""Raw metric points stored by the minute: a batch's points grouped into chunks, and chunks read back as points.

A chunk (`MetricChunk`) is one series (deploy, name, label set, service and environment) in one UTC minute of one
batch: its points' times as big-endian int64 microseconds since the Unix epoch, ascending, and their values as
big-endian float64 in the same order. A batch of 5,000 points from 10 series within a minute is 10 rows, so the
judge's index takes 10 entries, not 5,000. Times are rounded to the microsecond as Python's
`datetime.fromtimestamp` rounds them (half to even), which is what the database's time types hold.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np
from django.db import connection

from metrics.impact.models import MetricChunk
from metrics.points import PointBatch, group_rows

MINUTE_US = 60_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STAMP = np.dtype(">i8")
VALUE = np.dtype(">f8")


@dataclass(frozen=True)
class Chunks:
    """A batch cut into chunks: per chunk its key and point count; the points' times and values in chunk order."""

    keys: np.ndarray  # (chunks, 6): deploy (0: none), name code, label set code (-1: none), minute, service, env
    counts: np.ndarray
    stamps: bytes
    values: bytes

    def slices(self) -> list[tuple[int, int]]:
        """Each chunk's byte range in `stamps` and `values`."""
        ends = np.cumsum(self.counts) * 8
        return list(zip((ends - self.counts * 8).tolist(), ends.tolist(), strict=True))


def chunks_of(batch: PointBatch, services: np.ndarray, environments: np.ndarray, deploy_ids: np.ndarray) -> Chunks:
    """Group a batch by series and minute, in the judge's index order (deploy, name, then time)."""
    micros = batch.micros
    keys, codes = group_rows(
        (deploy_ids, batch.name_codes[1], batch.label_sets[1], micros // MINUTE_US, services, environments)
    )
    order = np.lexsort((micros, codes))
    counts = np.bincount(codes, minlength=len(keys))
    return Chunks(keys, counts, micros[order].astype(STAMP).tobytes(), batch.values[order].astype(VALUE).tobytes())


def chunks_insert(project_id: int, batch: PointBatch, chunks: Chunks) -> None:
    """Store the chunks: PostgreSQL's binary COPY (one round trip), or bulk inserts on SQLite."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            body = _copy_binary(project_id, batch, chunks)
            cursor.copy_expert(
                f"COPY {MetricChunk._meta.db_table} ({_COPY_COLUMNS}) FROM STDIN WITH (FORMAT binary)",
                io.BytesIO(body),
            )
        return
    names, (label_sets, _) = batch.name_codes[0], batch.label_sets
    MetricChunk.objects.bulk_create(
        [
            MetricChunk(
                project_id=project_id,
                service_id=service,
                environment_id=environment,
                deploy_id=deploy or None,
                name=names[name],
                labels=label_sets[label] if label >= 0 else None,
                minute=datetime.fromtimestamp(minute * 60, tz=UTC),
                count=count,
                stamps=chunks.stamps[start:end],
                values=chunks.values[start:end],
            )
            for (deploy, name, label, minute, service, environment), count, (start, end) in zip(
                chunks.keys.tolist(), chunks.counts.tolist(), chunks.slices(), strict=True
            )
        ],
        batch_size=500,
    )


# PostgreSQL's binary COPY (https://www.postgresql.org/docs/current/sql-copy.html#id-1.9.3.55.9.4): a header,
# then per row a 16-bit field count and each field as a 32-bit length (-1: NULL) and its bytes, then -1.
# bench/scale.py builds its chunk rows with these too.
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + (0).to_bytes(4, "big") + (0).to_bytes(4, "big")
COPY_TRAILER = (-1).to_bytes(2, "big", signed=True)
_COPY_COLUMNS = "project_id, service_id, environment_id, deploy_id, name, labels, minute, count, stamps, values"
PG_EPOCH_US = 946_684_800_000_000  # timestamptz counts microseconds from 2000-01-01 UTC
_NULL = (-1).to_bytes(4, "big", signed=True)


def _int8(value: int) -> bytes:
    return b"\x00\x00\x00\x08" + value.to_bytes(8, "big", signed=True)


def _field(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _copy_binary(project_id: int, batch: PointBatch, chunks: Chunks) -> bytes:
    """The chunks as a binary COPY body; each name and label set encoded once."""
    # jsonb's binary form: a version byte (1), then the JSON text. msgspec, not orjson: label integers may be
    # beyond 64 bits (JSON and jsonb have no limit). Label code -1 (no labels) is the last part: NULL.
    name_parts = [_field(name.encode()) for name in batch.name_codes[0]]
    label_parts = [*(_field(b"\x01" + msgspec.json.encode(labels)) for labels in batch.label_sets[0]), _NULL]
    head = (10).to_bytes(2, "big") + _int8(project_id)
    stamps, values = memoryview(chunks.stamps), memoryview(chunks.values)
    parts: list[bytes | memoryview] = [COPY_HEADER]
    for (deploy, name, label, minute, service, environment), count, (start, end) in zip(
        chunks.keys.tolist(), chunks.counts.tolist(), chunks.slices(), strict=True
    ):
        size = (end - start).to_bytes(4, "big")
        parts += [
            head + _int8(service) + _int8(environment) + (_int8(deploy) if deploy else _NULL),
            name_parts[name],
            label_parts[label],
            _int8(minute * MINUTE_US - PG_EPOCH_US) + b"\x00\x00\x00\x04" + count.to_bytes(4, "big") + size,
            stamps[start:end],
            size,
            values[start:end],
        ]
    parts.append(COPY_TRAILER)
    return b"".join(parts)


def micros_of(at: datetime) -> int:
    """A time as integer microseconds since the Unix epoch, as chunks hold it (exact: no float in between)."""
    return (at - EPOCH) // timedelta(microseconds=1)


def points_of(stamps: bytes | memoryview, values: bytes | memoryview) -> tuple[np.ndarray, np.ndarray]:
    """A chunk's points: their times (int64 microseconds since the Unix epoch) and values, in time order."""
    return np.frombuffer(stamps, dtype=STAMP).astype(np.int64), np.frombuffer(values, dtype=VALUE).astype(np.float64)
