"""Parse and validate a batch of metric points (pure Python + NumPy, no Django imports).

Validation is all-or-nothing: every bad point is reported by its index, and the caller stores nothing
unless the whole batch is valid. The result is columnar so that the store can COPY it in one go.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from metrics.timestamps import epoch_seconds

MAX_POINTS = 10_000
MAX_NAME_LENGTH = 200
MAX_SERVICE_LENGTH = 100
MAX_ENVIRONMENT_LENGTH = 50
MAX_VERSION_LENGTH = 100
MAX_LABELS = 16
MAX_LABEL_KEY_LENGTH = 64
MAX_LABEL_VALUE_LENGTH = 200
MAX_BATCH_ID_LENGTH = 200
FUTURE_TOLERANCE_SECONDS = 24 * 3600

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:/\-]*$")
SLUG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


class PointsInvalid(Exception):
    """The batch is rejected; ``fields`` follows the API error shape (per-index errors under ``points``)."""

    def __init__(self, message: str, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


@dataclass
class PointBatch:
    """A valid batch, column by column (index i of every list is point i)."""

    services: list[str] = field(default_factory=list)
    environments: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    values: np.ndarray = field(default_factory=lambda: np.empty(0))
    timestamps: np.ndarray = field(default_factory=lambda: np.empty(0))  # epoch seconds, UTC
    labels: list[dict[str, Any] | None] = field(default_factory=list)
    deploys: list[int | str | None] = field(default_factory=list)
    batch_id: str | None = None

    def __len__(self) -> int:
        return len(self.names)


def parse_body(body: bytes, content_type: str) -> tuple[list[Any], str | None]:
    """JSON ``{"batch_id"?, "points": [...]}`` (or a bare list) or NDJSON (one point per line)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PointsInvalid("the body is not UTF-8") from exc
    if "ndjson" in content_type or "jsonlines" in content_type:
        return _parse_ndjson(text), None
    data = _loads(text)
    if isinstance(data, list):
        return data, None
    if not isinstance(data, dict) or not isinstance(data.get("points"), list):
        raise PointsInvalid("expected an object with a list of points", {"points": ["this field is required"]})
    unknown = set(data) - {"points", "batch_id"}
    if unknown:
        raise PointsInvalid("unknown fields", {key: ["unknown field"] for key in sorted(unknown)})
    batch_id = data.get("batch_id")
    if batch_id is not None and (not isinstance(batch_id, str) or not 0 < len(batch_id) <= MAX_BATCH_ID_LENGTH):
        raise PointsInvalid("batch_id is not valid", {"batch_id": [f"a string of 1-{MAX_BATCH_ID_LENGTH} characters"]})
    return data["points"], batch_id


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    # orjson refuses NaN/Infinity literals; the standard parser reads them so that the offending
    # points get their own per-index error instead of one opaque parse error.
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise PointsInvalid(f"the body is not valid JSON: {exc}") from exc


def _reject_constant(name: str) -> float:
    # JSON has no NaN or Infinity; Python's parser accepts them, so they are refused per point below.
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}[name]


def _parse_ndjson(text: str) -> list[Any]:
    rows, errors = [], {}
    for number, line in enumerate(text.splitlines()):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line, parse_constant=_reject_constant))
        except (ValueError, RecursionError):
            errors[str(number)] = ["this line is not valid JSON"]
    if errors:
        raise PointsInvalid("some NDJSON lines are not valid JSON", {"lines": errors})
    return rows


def validate_points(rows: list[Any], *, now: float, retention_days: int, batch_id: str | None = None) -> PointBatch:
    """Check every point; raise PointsInvalid with per-index errors, or return the columnar batch."""
    if not rows:
        raise PointsInvalid("the batch has no points", {"points": ["at least one point is required"]})
    if len(rows) > MAX_POINTS:
        raise PointsInvalid(f"a batch holds at most {MAX_POINTS} points", {"points": [f"at most {MAX_POINTS}"]})
    oldest, newest = now - retention_days * 86400.0, now + FUTURE_TOLERANCE_SECONDS
    try:
        batch = _columns_valid(rows, now, oldest, newest)
    except (_NeedsRowCheck, KeyError, TypeError, ValueError, OverflowError, AttributeError):
        batch = None
    if batch is not None:
        batch.batch_id = batch_id
        return batch
    batch, errors = PointBatch(batch_id=batch_id), {}
    values, stamps = np.empty(len(rows)), np.empty(len(rows))
    # Batches repeat the same few series and label sets: validate each distinct one once.
    good_series: set[tuple] = set()
    good_labels: set[tuple] = set()
    for i, row in enumerate(rows):
        stamp = _fast_row(row, good_series, good_labels, now, oldest, newest)
        if stamp is None:
            problems = _check_row(row, now, oldest, newest)
            if problems:
                errors[str(i)] = problems
                continue
            _remember(row, good_series, good_labels)
            stamp = _timestamp(row.get("timestamp"), now)
        values[i], stamps[i] = row["value"], stamp
        batch.services.append(row["service"])
        batch.environments.append(row["environment"])
        batch.names.append(row["name"])
        batch.labels.append(row.get("labels") or None)
        batch.deploys.append(row.get("deploy"))
    if errors:
        raise PointsInvalid(f"{len(errors)} of {len(rows)} points are not valid", {"points": errors})
    batch.values, batch.timestamps = values, stamps
    return batch


_FIELDS = frozenset({"service", "environment", "name", "value", "timestamp", "labels", "deploy"})
_NUMBER_TYPES = (int, float)


class _NeedsRowCheck(Exception):
    """Something in the batch needs the per-row check (which also reports errors by index)."""


def _columns_valid(rows: list[Any], now: float, oldest: float, newest: float) -> PointBatch:
    """The common case, column by column: each distinct series, label set and deploy is checked once and
    values and timestamps as arrays. Raises _NeedsRowCheck on anything unusual; never accepts what the
    per-row check would refuse."""
    if any(type(row) is not dict or not row.keys() <= _FIELDS for row in rows):
        raise _NeedsRowCheck
    services = [row["service"] for row in rows]
    environments = [row["environment"] for row in rows]
    names = [row["name"] for row in rows]
    for series in set(zip(services, environments, names, strict=True)):
        probe = {"service": series[0], "environment": series[1], "name": series[2], "value": 0.0}
        if _check_row(probe, now, oldest, newest):
            raise _NeedsRowCheck
    raw_values = [row["value"] for row in rows]
    if not set(map(type, raw_values)) <= {int, float}:
        raise _NeedsRowCheck
    values = np.array(raw_values, dtype=np.float64)
    stamps = _stamps(rows, now)
    if not (np.isfinite(values).all() and np.isfinite(stamps).all()):
        raise _NeedsRowCheck
    if stamps.min() < oldest or stamps.max() > newest:
        raise _NeedsRowCheck
    labels = [row.get("labels") or None for row in rows]
    deploys = [row.get("deploy") for row in rows]
    _labels_and_deploys_valid(labels, deploys)
    return PointBatch(services, environments, names, values, stamps, labels, deploys)


def _stamps(rows: list[dict], now: float) -> np.ndarray:
    raw = [row.get("timestamp") for row in rows]
    kinds = set(map(type, raw))
    if kinds <= {int, float}:
        return np.array(raw, dtype=np.float64)
    if not kinds <= {str, int, float, type(None)}:
        raise _NeedsRowCheck
    parsed: dict[Any, float] = {}
    out = np.empty(len(raw))
    for i, stamp in enumerate(raw):
        seconds = parsed.get(stamp) if type(stamp) is str else None
        if seconds is None:
            seconds = _timestamp(stamp, now)
            if type(stamp) is str:
                parsed[stamp] = seconds
        out[i] = seconds
    return out


def _labels_and_deploys_valid(labels: list, deploys: list) -> None:
    seen: set[tuple] = set()
    for label_set in labels:
        if label_set is None:
            continue
        if type(label_set) is not dict:
            raise _NeedsRowCheck
        key = tuple(label_set.items())
        if key not in seen:
            if _check_labels(label_set) is not None:
                raise _NeedsRowCheck
            seen.add(key)
    for deploy in set(deploys) - {None}:
        if not _valid_deploy_ref(deploy):
            raise _NeedsRowCheck


def _fast_row(row: Any, series: set, label_sets: set, now: float, oldest: float, newest: float) -> float | None:
    """The timestamp of a row whose series and labels were already validated, else None (full check)."""
    if type(row) is not dict or not row.keys() <= _FIELDS:
        return None
    try:
        if (row["service"], row["environment"], row["name"]) not in series:
            return None
        labels = row.get("labels")
        if labels and tuple(labels.items()) not in label_sets:
            return None
        value = row["value"]
        if type(value) not in _NUMBER_TYPES or not math.isfinite(value):
            return None
        deploy = row.get("deploy")
        if deploy is not None and not _valid_deploy_ref(deploy):
            return None
        stamp = _timestamp(row.get("timestamp"), now)
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError):
        return None
    return stamp if oldest <= stamp <= newest else None


def _remember(row: dict, series: set, label_sets: set) -> None:
    series.add((row["service"], row["environment"], row["name"]))
    labels = row.get("labels")
    if labels:
        try:
            label_sets.add(tuple(labels.items()))
        except TypeError:
            return  # unhashable label values are checked in full every time


def _check_row(row: Any, now: float, oldest: float, newest: float) -> dict[str, list[str]]:
    if not isinstance(row, dict):
        return {"non_field_errors": ["a point must be an object"]}
    problems: dict[str, list[str]] = {}
    _check_text(row, "service", MAX_SERVICE_LENGTH, SLUG_RE, problems)
    _check_text(row, "environment", MAX_ENVIRONMENT_LENGTH, SLUG_RE, problems)
    _check_text(row, "name", MAX_NAME_LENGTH, NAME_RE, problems)
    value = row.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        problems["value"] = ["must be a number"]
    elif not _finite(value):
        problems["value"] = ["must be finite (no NaN or Infinity)"]
    stamp_problem = _check_timestamp(row.get("timestamp"), now, oldest, newest)
    if stamp_problem:
        problems["timestamp"] = [stamp_problem]
    label_problem = _check_labels(row.get("labels"))
    if label_problem:
        problems["labels"] = [label_problem]
    deploy = row.get("deploy")
    if deploy is not None and not _valid_deploy_ref(deploy):
        problems["deploy"] = [f"a deploy id (integer) or version (1-{MAX_VERSION_LENGTH} characters)"]
    unknown = set(row) - {"service", "environment", "name", "value", "timestamp", "labels", "deploy"}
    if unknown:
        problems["non_field_errors"] = [f"unknown fields: {', '.join(sorted(map(str, unknown)))}"]
    return problems


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _check_text(row: dict, key: str, limit: int, pattern: re.Pattern, problems: dict) -> None:
    value = row.get(key)
    if not isinstance(value, str) or not value:
        problems[key] = ["this field is required (a string)"]
    elif len(value) > limit:
        problems[key] = [f"at most {limit} characters"]
    elif not pattern.match(value):
        problems[key] = ["letters, digits and _ . - only" + (" : /" if key == "name" else "")]


def _valid_deploy_ref(deploy: Any) -> bool:
    if isinstance(deploy, bool):
        return False
    if isinstance(deploy, int):
        return deploy > 0
    return isinstance(deploy, str) and 0 < len(deploy) <= MAX_VERSION_LENGTH


def _check_labels(labels: Any) -> str | None:
    if labels is None:
        return None
    if not isinstance(labels, dict):
        return "must be an object of string keys"
    if len(labels) > MAX_LABELS:
        return f"at most {MAX_LABELS} labels"
    for key, value in labels.items():
        if not 0 < len(key) <= MAX_LABEL_KEY_LENGTH:
            return f"label names are 1-{MAX_LABEL_KEY_LENGTH} characters"
        if isinstance(value, str):
            if len(value) > MAX_LABEL_VALUE_LENGTH:
                return f"label values are at most {MAX_LABEL_VALUE_LENGTH} characters"
        elif isinstance(value, float) and not math.isfinite(value):
            return "label values must be finite"
        elif not isinstance(value, (int, float, bool)) and value is not None:
            return "label values are strings, numbers or booleans"
    return None


def _check_timestamp(stamp: Any, now: float, oldest: float, newest: float) -> str | None:
    try:
        seconds = _timestamp(stamp, now)
    except (TypeError, ValueError, OverflowError):
        return "an ISO 8601 time with a timezone, or epoch seconds"
    if seconds > newest:
        return "more than a day in the future"
    if seconds < oldest:
        return "older than the retention of raw points"
    return None


def _timestamp(stamp: Any, now: float) -> float:
    # A point without a timestamp happened when it was received.
    return now if stamp is None else epoch_seconds(stamp)
