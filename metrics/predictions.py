"""Parse and validate a batch of prediction samples (pure Python + NumPy, no Django imports).

Two forms are accepted, both turned into the same columnar `PredictionBatch`:

* rows: ``{"service", "environment", "deploy"?, "batch_id"?, "rows": [{"timestamp"?, "features": {...},
  "prediction", "label"?}, ...]}``
* columns: ``{"service", "environment", "deploy"?, "batch_id"?, "columns": {"f1": [...], ...},
  "prediction": [...], "label"?: [...], "timestamp"?: [...]}``

A column's kind comes from its JSON values: numbers are numeric, strings categorical, true/false boolean;
null is a missing value (allowed and counted). NaN and Infinity are refused — JSON has no such values,
and a missing value is null. Validation is all-or-nothing: the caller stores nothing unless it passes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from metrics.stats.sketch import MAX_CATEGORIES, MAX_CATEGORY_LENGTH
from metrics.timestamps import epoch_seconds

MAX_ROWS = 10_000
MAX_FEATURES = 100  # per batch and per service
MAX_COLUMN_NAME_LENGTH = 100
MAX_BATCH_ID_LENGTH = 200
MAX_VERSION_LENGTH = 100
MAX_SERVICE_LENGTH = 100
MAX_ENVIRONMENT_LENGTH = 50
FUTURE_TOLERANCE_SECONDS = 24 * 3600

NUMERIC, CATEGORICAL, BOOLEAN = "numeric", "categorical", "boolean"
KINDS = (NUMERIC, CATEGORICAL, BOOLEAN)
FEATURE, PREDICTION, LABEL = "feature", "prediction", "label"

_ROW_KEYS = {"timestamp", "features", "prediction", "label"}
_TOP_KEYS = {"service", "environment", "deploy", "batch_id", "rows", "columns", "prediction", "label", "timestamp"}


class SamplesInvalid(Exception):
    """The batch is rejected; `fields` follows the API error shape."""

    def __init__(self, message: str, fields: dict[str, Any] | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        self.status = status


@dataclass
class Column:
    name: str
    role: str  # feature, prediction or label
    kind: str  # numeric, categorical or boolean
    values: np.ndarray  # one per row: float64 (NaN where null) for numeric, objects (None where null) otherwise
    present: np.ndarray  # bool per row: False where the value was null

    def part(self, rows: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """The non-null values of the selected rows (a boolean mask; all rows if None) and their null count."""
        present = self.present if rows is None else self.present & rows
        selected = len(self.present) if rows is None else int(rows.sum())
        return self.values[present], selected - int(present.sum())


@dataclass
class PredictionBatch:
    service: str
    environment: str
    deploy: int | str | None
    batch_id: str | None
    n_rows: int
    timestamps: np.ndarray  # epoch seconds per row (the receive time where none was given)
    columns: list[Column] = field(default_factory=list)


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        problem = exc
    # orjson also refuses lone surrogates and integers beyond 64 bits; the standard parser is only asked
    # to name NaN and Infinity, which clients send by mistake for missing values.
    try:
        json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except SamplesInvalid:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError):
        pass
    raise SamplesInvalid(f"the body is not valid JSON: {problem}")


def _refuse_constant(name: str) -> float:
    raise SamplesInvalid(f"{name} is not allowed: send null for a missing value", {"non_field_errors": [name]})


def validate_batch(data: Any, *, now: float) -> PredictionBatch:
    """Check the whole batch; raise SamplesInvalid (fields per row or column) or return it columnar."""
    if not isinstance(data, dict):
        raise SamplesInvalid("expected a JSON object")
    problems = _check_envelope(data)
    if problems:
        raise SamplesInvalid("the batch is not valid", problems)
    if "rows" in data:
        columns, stamps = _columns_from_rows(data["rows"])
    else:
        columns, stamps = _columns_from_columnar(data)
    n_rows = _row_count(columns, stamps)
    batch = PredictionBatch(
        service=data["service"],
        environment=data["environment"],
        deploy=data.get("deploy"),
        batch_id=data.get("batch_id"),
        n_rows=n_rows,
        timestamps=_timestamps(stamps, n_rows, now),
    )
    batch.columns = _typed_columns(columns)
    return batch


def _check_envelope(data: dict) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for key, limit in (("service", MAX_SERVICE_LENGTH), ("environment", MAX_ENVIRONMENT_LENGTH)):
        value = data.get(key)
        if not isinstance(value, str) or not 0 < len(value) <= limit:
            problems[key] = [f"required: a string of 1-{limit} characters"]
    deploy = data.get("deploy")
    if deploy is not None and not _valid_deploy_ref(deploy):
        problems["deploy"] = [f"a deploy id (integer) or version (1-{MAX_VERSION_LENGTH} characters)"]
    batch_id = data.get("batch_id")
    if batch_id is not None and (not isinstance(batch_id, str) or not 0 < len(batch_id) <= MAX_BATCH_ID_LENGTH):
        problems["batch_id"] = [f"a string of 1-{MAX_BATCH_ID_LENGTH} characters"]
    unknown = set(data) - _TOP_KEYS
    if unknown:
        problems["non_field_errors"] = [f"unknown fields: {', '.join(sorted(map(str, unknown)))}"]
    if ("rows" in data) == ("columns" in data):
        problems["rows"] = ["send either rows (row form) or columns (columnar form)"]
    elif "rows" in data and any(k in data for k in ("prediction", "label", "timestamp")):
        problems["rows"] = ["in row form, prediction, label and timestamp go inside each row"]
    return problems


def _valid_deploy_ref(deploy: Any) -> bool:
    if isinstance(deploy, bool):
        return False
    if isinstance(deploy, int):
        return 0 < deploy < 2**63  # a database id
    return isinstance(deploy, str) and 0 < len(deploy) <= MAX_VERSION_LENGTH


# --- the two forms, as {(role, name): list of raw values} -----------------------------------------


def _columns_from_rows(rows: Any) -> tuple[dict[tuple[str, str], list], list | None]:
    if not isinstance(rows, list) or not rows:
        raise SamplesInvalid("rows must be a non-empty list", {"rows": ["at least one row is required"]})
    _check_size(len(rows), "rows")
    n = len(rows)
    columns: dict[tuple[str, str], list] = {(PREDICTION, "prediction"): [None] * n}
    stamps: list = [None] * n
    errors: dict[str, Any] = {}
    n_features = 0
    for i, row in enumerate(rows):
        problem = _row_problem(row)
        if problem:
            errors[str(i)] = problem
            continue
        stamps[i] = row.get("timestamp")
        columns[(PREDICTION, "prediction")][i] = row["prediction"]
        if "label" in row:
            columns.setdefault((LABEL, "label"), [None] * n)[i] = row["label"]
        for name, value in row["features"].items():
            column = columns.get((FEATURE, name))
            if column is None:
                n_features += 1
                if n_features > MAX_FEATURES:
                    raise _too_many_features()
                column = columns[(FEATURE, name)] = [None] * n
            column[i] = value
    if errors:
        raise SamplesInvalid(f"{len(errors)} of {n} rows are not valid", {"rows": errors})
    has_stamps = any(s is not None for s in stamps)
    return columns, stamps if has_stamps else None


def _row_problem(row: Any) -> dict[str, list[str]] | None:
    if not isinstance(row, dict):
        return {"non_field_errors": ["a row must be an object"]}
    problems: dict[str, list[str]] = {}
    if not isinstance(row.get("features"), dict):
        problems["features"] = ["required: an object of feature values"]
    if "prediction" not in row:
        problems["prediction"] = ["this field is required (null if missing)"]
    unknown = set(row) - _ROW_KEYS
    if unknown:
        problems["non_field_errors"] = [f"unknown fields: {', '.join(sorted(map(str, unknown)))}"]
    return problems or None


def _columns_from_columnar(data: dict) -> tuple[dict[tuple[str, str], list], list | None]:
    features = data["columns"]
    if not isinstance(features, dict):
        raise SamplesInvalid("columns must be an object of lists", {"columns": ["an object of lists"]})
    if len(features) > MAX_FEATURES:
        raise _too_many_features()
    columns: dict[tuple[str, str], list] = {(FEATURE, name): values for name, values in features.items()}
    if "prediction" not in data:
        raise SamplesInvalid("prediction is required", {"prediction": ["a list, one value per row"]})
    columns[(PREDICTION, "prediction")] = data["prediction"]
    if "label" in data:
        columns[(LABEL, "label")] = data["label"]
    not_lists = {
        _field_path(key): ["must be a list"] for key, values in columns.items() if not isinstance(values, list)
    }
    stamps = data.get("timestamp")
    if stamps is not None and not isinstance(stamps, list):
        not_lists["timestamp"] = ["must be a list"]
    if not_lists:
        raise SamplesInvalid("every column must be a list", not_lists)
    return columns, stamps


def _field_path(key: tuple[str, str]) -> str:
    role, name = key
    return f"columns.{name}" if role == FEATURE else role


def _too_many_features() -> SamplesInvalid:
    return SamplesInvalid(f"a batch holds at most {MAX_FEATURES} features", {"columns": [f"at most {MAX_FEATURES}"]})


def _check_size(n: int, key: str) -> None:
    if n > MAX_ROWS:
        raise SamplesInvalid(f"a batch holds at most {MAX_ROWS} rows", {key: [f"at most {MAX_ROWS} rows"]}, 413)


def _row_count(columns: dict[tuple[str, str], list], stamps: list | None) -> int:
    lengths = {_field_path(key): len(values) for key, values in columns.items()}
    if stamps is not None:
        lengths["timestamp"] = len(stamps)
    n = lengths.get("prediction", 0)
    if n == 0:
        raise SamplesInvalid("the batch has no rows", {"prediction": ["at least one value is required"]})
    _check_size(n, "prediction")
    ragged = {path: [f"has {length} values, prediction has {n}"] for path, length in lengths.items() if length != n}
    if ragged:
        raise SamplesInvalid("columns have different lengths", ragged)
    return n


# --- kinds -------------------------------------------------------------------------------------


def _typed_columns(columns: dict[tuple[str, str], list]) -> list[Column]:
    out, errors = [], {}
    for (role, name), values in columns.items():
        if role == FEATURE and not _valid_name(name):
            errors[_field_path((role, name))] = [f"a feature name is 1-{MAX_COLUMN_NAME_LENGTH} characters"]
            continue
        try:
            out.append(typed_column(name, role, values))
        except ValueError as exc:
            errors[_field_path((role, name))] = [str(exc)]
    if errors:
        raise SamplesInvalid("some columns are not valid", errors, 422)
    return out


def _valid_name(name: str) -> bool:
    return 0 < len(name) <= MAX_COLUMN_NAME_LENGTH and name.isprintable()


def typed_column(name: str, role: str, values: list) -> Column:
    """One column's kind from its values; ValueError names the problem."""
    types = set(map(type, values))
    types.discard(type(None))
    present = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    if not types:
        raise ValueError("every value is null: send at least one value to learn the column's kind")
    if types <= {int, float}:
        return Column(name, role, NUMERIC, _numbers(values, present), present)
    if types == {str}:
        return Column(name, role, CATEGORICAL, _categories(values, present), present)
    if types == {bool}:
        as_text = np.array([None if v is None else ("true" if v else "false") for v in values], dtype=object)
        return Column(name, role, BOOLEAN, as_text, present)
    raise ValueError("values of one column must share one kind: numbers, strings or true/false (null if missing)")


def _numbers(values: list, present: np.ndarray) -> np.ndarray:
    try:
        numbers = np.array(values, dtype=np.float64)  # None becomes NaN
    except OverflowError as exc:
        raise ValueError("a number is too large") from exc
    if not np.isfinite(numbers[present]).all():
        raise ValueError("a number is too large")
    return numbers


def _categories(values: list, present: np.ndarray) -> np.ndarray:
    distinct = set(values)
    distinct.discard(None)
    if max(map(len, distinct)) > MAX_CATEGORY_LENGTH:
        raise ValueError(f"category values are at most {MAX_CATEGORY_LENGTH} characters")
    if len(distinct) > MAX_CATEGORIES:
        raise ValueError(f"at most {MAX_CATEGORIES} distinct categories per batch (an identifier is not a feature)")
    return np.array(values, dtype=object)


# --- timestamps --------------------------------------------------------------------------------


def _timestamps(stamps: list | None, n: int, now: float) -> np.ndarray:
    if stamps is None:
        return np.full(n, now)
    out, errors = np.empty(n), {}
    for i, stamp in enumerate(stamps):
        try:
            out[i] = now if stamp is None else epoch_seconds(stamp)
        except (TypeError, ValueError, OverflowError):
            errors[str(i)] = ["an ISO 8601 time with a timezone, or epoch seconds"]
            continue
        if out[i] > now + FUTURE_TOLERANCE_SECONDS:
            errors[str(i)] = ["more than a day in the future"]
    if errors:
        raise SamplesInvalid("some timestamps are not valid", {"timestamp": errors})
    return out
