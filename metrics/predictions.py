"""Parse and validate a batch of prediction samples (pure Python + NumPy, no Django imports).

Two forms are accepted, both turned into the same columnar `PredictionBatch`:

* rows: ``{"service", "environment", "deploy"?, "batch_id"?, "rows": [{"timestamp"?, "features": {...},
  "prediction", "label"?, "request_id"?}, ...]}``
* columns: ``{"service", "environment", "deploy"?, "batch_id"?, "columns": {"f1": [...], ...},
  "prediction": [...], "label"?: [...], "timestamp"?: [...], "request_id"?: [...]}``

A `request_id` names the request a prediction answered, so that a shadow or A/B deploy's rows pair with its
champion's (metrics.stats.shadow); it is not a feature and is not sketched for drift.

A column's kind comes from its JSON values: numbers are numeric, strings categorical, true/false boolean;
null is a missing value (allowed and counted). NaN and Infinity are refused — JSON has no such values,
and a missing value is null. Validation is all-or-nothing: the caller stores nothing unless it passes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec
import numpy as np
import orjson
from msgspec import UNSET, Meta, UnsetType

from metrics.payloads import (
    DEPLOY_RULE,
    FUTURE_TOLERANCE_SECONDS,
    TIMESTAMP_DESCRIPTION,
    BatchId,
    DeployRef,
    FiniteFloat,
    Timestamp,
    epoch_seconds,
    field_problems,
    is_valid,
    json_schema,
)
from metrics.stats.sketch import MAX_CATEGORIES, MAX_CATEGORY_LENGTH
from tracker.errors import Invalid, TooLarge, Unprocessable

MAX_ROWS = 10_000
MAX_FEATURES = 100  # per batch and per service
MAX_COLUMN_NAME_LENGTH = 100
MAX_SERVICE_LENGTH = 100
MAX_ENVIRONMENT_LENGTH = 50
MAX_REQUEST_ID_LENGTH = 200

NUMERIC, CATEGORICAL, BOOLEAN = "numeric", "categorical", "boolean"
KINDS = (NUMERIC, CATEGORICAL, BOOLEAN)
FEATURE, PREDICTION, LABEL = "feature", "prediction", "label"

# --- the payload, declared once -------------------------------------------------------------------

# A value's kind (number, string, true/false) is its column's kind; null is a missing value.
Value = FiniteFloat | Annotated[str, Meta(max_length=MAX_CATEGORY_LENGTH)] | bool | None
ColumnName = Annotated[str, Meta(min_length=1, max_length=MAX_COLUMN_NAME_LENGTH)]
ValueList = Annotated[list[Value], Meta(max_length=MAX_ROWS)]
Stamp = Annotated[Timestamp | None, Meta(description=TIMESTAMP_DESCRIPTION + "; the receive time when null")]
REQUEST_ID_DESCRIPTION = f"the request this prediction answered: a string of 1-{MAX_REQUEST_ID_LENGTH} characters"
RequestId = Annotated[
    Annotated[str, Meta(min_length=1, max_length=MAX_REQUEST_ID_LENGTH)] | None,
    Meta(description=REQUEST_ID_DESCRIPTION + " (null: not paired)"),
]


class PredictionRow(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """One model call (row form)."""

    features: Annotated[dict[ColumnName, Value], Meta(description="required: an object of feature values")]
    prediction: Annotated[Value, Meta(description="this field is required (null if missing)")]
    label: Annotated[Value | UnsetType, Meta(description="the realised outcome, when known")] = UNSET
    timestamp: Stamp = None
    request_id: RequestId = None


class PredictionsPayload(msgspec.Struct, forbid_unknown_fields=True):
    """A batch of up to 10,000 prediction samples: `rows` (row form), or `columns` and `prediction` (columnar)."""

    service: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=MAX_SERVICE_LENGTH,
            description=f"required: a string of 1-{MAX_SERVICE_LENGTH} characters",
        ),
    ]
    environment: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=MAX_ENVIRONMENT_LENGTH,
            description=f"required: a string of 1-{MAX_ENVIRONMENT_LENGTH} characters",
        ),
    ]
    deploy: Annotated[
        DeployRef | None, Meta(description=f"{DEPLOY_RULE}; without it, each row goes to the deploy live at its time")
    ] = None
    batch_id: BatchId | None = None
    rows: Annotated[list[PredictionRow], Meta(min_length=1, max_length=MAX_ROWS)] | UnsetType = UNSET
    columns: Annotated[dict[ColumnName, ValueList], Meta(max_length=MAX_FEATURES)] | UnsetType = UNSET
    prediction: ValueList | UnsetType = UNSET
    label: ValueList | UnsetType = UNSET
    timestamp: Annotated[list[Stamp], Meta(max_length=MAX_ROWS)] | UnsetType | None = UNSET
    request_id: Annotated[list[RequestId], Meta(max_length=MAX_ROWS)] | UnsetType = UNSET

    def __post_init__(self) -> None:
        problem = form_problem(self)
        if problem:
            raise ValueError(problem[1])


# Fields of the columnar form that, in row form, go inside each row.
PER_ROW_FIELDS = ("prediction", "label", "timestamp", "request_id")

# The rule between fields that msgspec cannot declare: the same rule, as JSON Schema and as code.
FORMS_SCHEMA = {
    "oneOf": [
        {
            "title": "row form",
            "required": ["rows"],
            "not": {"anyOf": [{"required": [key]} for key in ("columns", *PER_ROW_FIELDS)]},
        },
        {"title": "columnar form", "required": ["columns", "prediction"], "not": {"required": ["rows"]}},
    ]
}


def form_problem(payload: Any) -> tuple[str, str] | None:
    """(field, message) when a payload (decoded, or a plain dict) mixes or lacks the two forms."""
    has = payload.__contains__ if isinstance(payload, dict) else (lambda key: getattr(payload, key) is not UNSET)
    if has("rows") == has("columns"):
        return "rows", "send either rows (row form) or columns (columnar form)"
    if has("rows") and any(has(key) for key in PER_ROW_FIELDS):
        return "rows", "in row form, prediction, label, timestamp and request_id go inside each row"
    if has("columns") and not has("prediction"):
        return "prediction", "a list, one value per row"
    return None


_DECODER = msgspec.json.Decoder(PredictionsPayload)


def predictions_json_schema() -> dict:
    """The JSON Schema of the body of POST /api/v1/predictions."""
    return json_schema(Annotated[PredictionsPayload, Meta(extra_json_schema=FORMS_SCHEMA)])


class SamplesInvalid(Invalid):
    """The batch is rejected; `fields` follows the API error shape."""

    def __init__(self, message: str, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message, fields=fields)


class SamplesTooLarge(TooLarge, SamplesInvalid):
    """More rows than a batch may hold (413, with the code every refused batch has)."""

    code = "invalid"


class SamplesUnprocessable(Unprocessable, SamplesInvalid):
    """Well-formed columns whose values cannot be used (422, with the code every refused batch has)."""

    code = "invalid"


@dataclass
class Column:
    name: str
    role: str  # feature, prediction or label
    kind: str  # numeric, categorical or boolean
    values: np.ndarray  # one per row: float64 (NaN where null) for numeric, objects (None where null) otherwise
    present: np.ndarray  # bool per row: False where the value was null
    # Categorical and boolean: each value's count over every row (nulls apart), counted once for the kind's
    # checks and the sketch of a batch that goes to one deploy.
    counts: dict[str, int] | None = None

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
    request_ids: list[str | None] | None = None  # per row when any row named its request


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


def decode_batch(body: bytes, *, now: float) -> PredictionBatch:
    """The API's entry: decode and check a body in one pass (msgspec), or raise SamplesInvalid."""
    try:
        payload = _DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        refused = exc
    else:
        return _batch(payload, now)
    # Refused: decode leniently to say what is wrong, row by row and column by column.
    validate_batch(parse_json(body), now=now)
    raise SamplesInvalid(f"the batch is not valid: {refused}")


def validate_batch(data: Any, *, now: float) -> PredictionBatch:
    """Check a parsed batch against the definition; raise SamplesInvalid (fields per row or column) or return
    it columnar."""
    try:
        payload = msgspec.convert(data, PredictionsPayload)
    except msgspec.ValidationError as exc:
        _explain(data, now)
        # What the definition refused is never accepted, even where the explanation found nothing to name.
        raise SamplesInvalid(f"the batch is not valid: {exc}") from None
    return _batch(payload, now)


def _batch(payload: PredictionsPayload, now: float) -> PredictionBatch:
    """A decoded payload, column by column, after the checks between rows and columns."""
    if payload.rows is not UNSET:
        rows = ((r.features, r.prediction, r.label, r.timestamp) for r in payload.rows)
        columns, stamps = _columns_from_rows(rows, len(payload.rows))
    else:
        columns, stamps = _columns_from_columnar(payload.columns, payload.prediction, payload.label)
        stamps = payload.timestamp or None
    n_rows = _row_count(columns, stamps)
    batch = PredictionBatch(
        service=payload.service,
        environment=payload.environment,
        deploy=payload.deploy,
        batch_id=payload.batch_id,
        n_rows=n_rows,
        timestamps=_timestamps(stamps, n_rows, now),
    )
    batch.columns = _typed_columns(columns)
    batch.request_ids = _request_ids(payload, n_rows)
    return batch


def _request_ids(payload: PredictionsPayload, n_rows: int) -> list[str | None] | None:
    """The request ids per row, or None when the batch names none; kept apart from the columns (not sketched)."""
    if payload.rows is not UNSET:
        ids = [row.request_id for row in payload.rows]
    elif payload.request_id is not UNSET:
        ids = payload.request_id
        if len(ids) != n_rows:
            raise SamplesInvalid("columns have different lengths", _ragged_ids(len(ids), n_rows))
    else:
        return None
    return ids if any(ids) else None


def _ragged_ids(length: int, n_rows: int) -> dict:
    return {"request_id": [f"has {length} values, prediction has {n_rows}"]}


def _explain_request_ids(ids: Any, n_rows: int) -> None:
    """Name the columnar form's request ids that the definition refuses, by index."""
    if not isinstance(ids, list):
        raise SamplesInvalid("request_id must be a list", {"request_id": ["must be a list, one value per row"]})
    if len(ids) != n_rows:
        raise SamplesInvalid("columns have different lengths", _ragged_ids(len(ids), n_rows))
    errors = {str(i): [REQUEST_ID_DESCRIPTION] for i, value in enumerate(ids) if not is_valid(value, RequestId)}
    if errors:
        raise SamplesInvalid("some request ids are not valid", {"request_id": errors})


def _explain(data: Any, now: float) -> None:
    """Raise SamplesInvalid naming what the definition refuses in a plain (parsed) batch, if it can."""
    if not isinstance(data, dict):
        raise SamplesInvalid("expected a JSON object")
    problems = field_problems(
        PredictionsPayload, data, skip=frozenset(("rows", "columns", "prediction", "label", "request_id"))
    )
    problems.pop("timestamp", None)  # a columnar form's timestamps are explained one by one below
    form = form_problem(data)
    if form:
        problems.setdefault(form[0], [form[1]])
    if problems:
        raise SamplesInvalid("the batch is not valid", problems)
    if "rows" in data:
        columns, stamps = _columns_from_rows(_plain_rows(data["rows"]), len(data["rows"]))
    else:
        columns, stamps = _plain_columns(data)
    n_rows = _row_count(columns, stamps)
    _timestamps(stamps, n_rows, now)
    _typed_columns(columns)
    if "columns" in data and "request_id" in data:
        _explain_request_ids(data["request_id"], n_rows)


def _plain_rows(rows: Any) -> list[tuple]:
    if not isinstance(rows, list) or not rows:
        raise SamplesInvalid("rows must be a non-empty list", {"rows": ["at least one row is required"]})
    _check_size(len(rows), "rows")
    errors: dict[str, Any] = {}
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            errors[str(i)] = {"non_field_errors": ["a row must be an object"]}
            continue
        # Values of the fields present are explained with their column (kinds, sizes) or with the timestamps.
        problem = {
            key: text
            for key, text in field_problems(PredictionRow, row).items()
            if key in ("non_field_errors", "request_id")
            or key not in row
            or (key == "features" and not isinstance(row[key], dict))
        }
        if problem:
            errors[str(i)] = problem
    if errors:
        raise SamplesInvalid(f"{len(errors)} of {len(rows)} rows are not valid", {"rows": errors})
    return [(r["features"], r["prediction"], r.get("label", UNSET), r.get("timestamp")) for r in rows]


def _plain_columns(data: dict) -> tuple[dict[tuple[str, str], list], list | None]:
    features = data["columns"]
    if not isinstance(features, dict):
        raise SamplesInvalid("columns must be an object of lists", {"columns": ["an object of lists"]})
    if len(features) > MAX_FEATURES:
        raise _too_many_features()
    columns, stamps = _columns_from_columnar(features, data["prediction"], data.get("label", UNSET))
    not_lists = {
        _field_path(key): ["must be a list"] for key, values in columns.items() if not isinstance(values, list)
    }
    stamps = data.get("timestamp")
    if stamps is not None and not isinstance(stamps, list):
        not_lists["timestamp"] = ["must be a list"]
    if not_lists:
        raise SamplesInvalid("every column must be a list", not_lists)
    return columns, stamps


# --- the two forms, as {(role, name): list of values} ---------------------------------------------


def _columns_from_rows(rows, n: int) -> tuple[dict[tuple[str, str], list], list | None]:
    """Columns from (features, prediction, label or UNSET, timestamp) per row."""
    predictions: list = [None] * n
    labels: list | None = None
    stamps: list = [None] * n
    features: dict[str, list] = {}  # keyed by name alone: the hot loop builds no tuples
    for i, (row_features, prediction, label, stamp) in enumerate(rows):
        stamps[i] = stamp
        predictions[i] = prediction
        if label is not UNSET:
            if labels is None:
                labels = [None] * n
            labels[i] = label
        for name, value in row_features.items():
            column = features.get(name)
            if column is None:
                if len(features) == MAX_FEATURES:
                    raise _too_many_features()
                column = features[name] = [None] * n
            column[i] = value
    columns = {(FEATURE, name): values for name, values in features.items()}
    columns[(PREDICTION, "prediction")] = predictions
    if labels is not None:
        columns[(LABEL, "label")] = labels
    has_stamps = any(s is not None for s in stamps)
    return columns, stamps if has_stamps else None


def _columns_from_columnar(features: dict, prediction: list, label: Any) -> tuple[dict[tuple[str, str], list], None]:
    columns: dict[tuple[str, str], list] = {(FEATURE, name): values for name, values in features.items()}
    columns[(PREDICTION, "prediction")] = prediction
    if label is not UNSET:
        columns[(LABEL, "label")] = label
    return columns, None


def _field_path(key: tuple[str, str]) -> str:
    role, name = key
    return f"columns.{name}" if role == FEATURE else role


def _too_many_features() -> SamplesInvalid:
    return SamplesInvalid(f"a batch holds at most {MAX_FEATURES} features", {"columns": [f"at most {MAX_FEATURES}"]})


def _check_size(n: int, key: str) -> None:
    if n > MAX_ROWS:
        raise SamplesTooLarge(f"a batch holds at most {MAX_ROWS} rows", {key: [f"at most {MAX_ROWS} rows"]})


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
        raise SamplesUnprocessable("some columns are not valid", errors)
    return out


def _valid_name(name: str) -> bool:
    return is_valid(name, ColumnName) and name.isprintable()


_NUMBERS, _STRINGS = list[float | None], list[str | None]


def _only(values: list, kind: type) -> bool:
    """Whether every value is of `kind` (list[float | None]: an int or a float, never a bool) or null, and not
    every one null: msgspec's strict check, in C, ~4× faster than a set of the values' types."""
    try:
        msgspec.convert(values, kind, strict=True)
    except msgspec.ValidationError:
        return False
    return any(value is not None for value in values)  # stops at the first value


def typed_column(name: str, role: str, values: list) -> Column:
    """One column's kind from its values; ValueError names the problem."""
    if isinstance(values, list) and _only(values, _NUMBERS):  # the common case, without a scan of the types
        types = {float}
    elif isinstance(values, list) and _only(values, _STRINGS):
        types = {str}
    else:
        types = set(map(type, values))
    types.discard(type(None))
    if not types:
        raise ValueError("every value is null: send at least one value to learn the column's kind")
    if types <= {int, float}:
        numbers = _numbers(values)
        return Column(name, role, NUMERIC, numbers, ~np.isnan(numbers))
    if types == {str}:
        return _counted_column(name, role, CATEGORICAL, values)
    if types == {bool}:
        text = [None if v is None else ("true" if v else "false") for v in values]
        return _counted_column(name, role, BOOLEAN, text)
    raise ValueError("values of one column must share one kind: numbers, strings or true/false (null if missing)")


def _counted_column(name: str, role: str, kind: str, values: list) -> Column:
    """A categorical or boolean column (booleans as "true"/"false"), each value counted once."""
    counts = Counter(values)
    nulls = counts.pop(None, 0)
    if kind == CATEGORICAL:
        _categories_check(counts)
    objects = np.array(values, dtype=object)
    present = objects != None if nulls else np.ones(len(values), dtype=bool)  # noqa: E711 (element-wise)
    return Column(name, role, kind, objects, present, dict(counts))


def _numbers(values: list) -> np.ndarray:
    """float64 with NaN where null (JSON has no NaN, so NaN means null). `np.fromiter` converts each value as
    `np.array` does (None to NaN), without first discovering the list's shape and type: 0.17 against 0.28 ms at
    10,000 values."""
    try:
        numbers = np.fromiter(values, dtype=np.float64, count=len(values))
    except OverflowError as exc:
        raise ValueError("a number is too large") from exc
    if np.isinf(numbers).any():
        raise ValueError("a number is too large")
    return numbers


def _categories_check(distinct: Collection[str]) -> None:
    """The batch's distinct categories (nulls apart) within the limits; ValueError names the problem."""
    if max(map(len, distinct)) > MAX_CATEGORY_LENGTH:
        raise ValueError(f"category values are at most {MAX_CATEGORY_LENGTH} characters")
    if len(distinct) > MAX_CATEGORIES:
        raise ValueError(f"at most {MAX_CATEGORIES} distinct categories per batch (an identifier is not a feature)")


# --- timestamps --------------------------------------------------------------------------------


def _timestamps(stamps: list | None, n: int, now: float) -> np.ndarray:
    """Epoch seconds per row; decoded values at once, plain ones (being explained) one by one."""
    if stamps is None:
        return np.full(n, now)
    newest = now + FUTURE_TOLERANCE_SECONDS
    try:
        out = np.fromiter((epoch_seconds(stamp, now) for stamp in stamps), dtype=np.float64, count=n)
    except (AttributeError, TypeError):
        out = None
    if out is not None and not (out > newest).any():
        return out
    errors = {}
    for i, stamp in enumerate(stamps):
        if not is_valid(stamp, Stamp):
            errors[str(i)] = [TIMESTAMP_DESCRIPTION]
        elif epoch_seconds(msgspec.convert(stamp, Stamp), now) > newest:
            errors[str(i)] = ["more than a day in the future"]
    if errors:
        raise SamplesInvalid("some timestamps are not valid", {"timestamp": errors})
    return np.array([epoch_seconds(msgspec.convert(stamp, Stamp), now) for stamp in stamps])
