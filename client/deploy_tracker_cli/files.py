"""Reading metric points and prediction samples from CSV, JSON or NDJSON files, and cutting them into batches
within the API's limits."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MAX_BATCH = 10_000  # points or rows per request (POST /api/v1/metrics and /api/v1/predictions)
MAX_BATCH_BYTES = 8 * 1024 * 1024  # well under the ingest endpoints' 16 MB body limit
POINT_COLUMNS = ("service", "environment", "name", "value", "timestamp", "deploy", "deploy_version", "labels")
ROW_ROLES = ("prediction", "label", "timestamp")


class InputError(Exception):
    """A file the client cannot turn into a valid request: nothing was sent for it."""


def read_text(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except OSError as problem:
        raise InputError(f"{path}: {problem.strerror}") from None


def file_format(path: str, chosen: str | None) -> str:
    if chosen:
        return chosen
    suffix = Path(path).suffix.lower()
    if suffix in (".ndjson", ".jsonl"):
        return "ndjson"
    return "json" if suffix == ".json" else "csv"


def _json_records(path: str, text: str, fmt: str, key: str) -> tuple[dict, list]:
    """(the envelope's other fields, the records) of a JSON or NDJSON file."""
    try:
        if fmt == "ndjson":
            return {}, [json.loads(line) for line in text.splitlines() if line.strip()]
        data = json.loads(text)
    except ValueError as problem:
        raise InputError(f"{path}: not valid JSON: {problem}") from None
    if isinstance(data, list):
        return {}, data
    if isinstance(data, dict) and isinstance(data.get(key), list):
        return {k: v for k, v in data.items() if k != key}, data[key]
    raise InputError(f"{path}: expected a list, or an object with a {key!r} list")


def _scalar(text: str) -> Any:
    """A CSV cell as JSON: empty is null, numbers are numbers, true/false booleans, anything else a string."""
    if text == "":
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if not _is_number(text):
        return text
    number = float(text)
    return int(number) if number.is_integer() and text.lstrip("+-").isdigit() else number


def _deploy_ref(value: str) -> int | str:
    """A deploy column: digits are a deploy id, anything else a version (use deploy_version for a numeric one)."""
    return int(value) if value.isdigit() else value


# --- metric points ---------------------------------------------------------------------------------------


def read_points(path: str, fmt: str | None, defaults: dict[str, Any]) -> list[dict]:
    text = read_text(path)
    fmt = file_format(path, fmt)
    if fmt == "csv":
        points = [_csv_point(path, line, row) for line, row in _csv_rows(path, text)]
    else:
        _, points = _json_records(path, text, fmt, "points")
    for index, point in enumerate(points):
        if not isinstance(point, dict):
            raise InputError(f"{path}: point {index} is not an object")
        for key, value in defaults.items():
            point.setdefault(key, value)
    return points


def _csv_rows(path: str, text: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise InputError(f"{path}: the CSV file has no header row")
    for row in reader:
        if None in row:
            raise InputError(f"{path}: line {reader.line_num} has more cells than the header")
        yield reader.line_num, row


def _csv_point(path: str, line: int, row: dict[str, str]) -> dict:
    point: dict[str, Any] = {}
    labels: dict[str, Any] = {}
    for column, cell in row.items():
        cell = (cell or "").strip()
        if column.startswith("label."):
            if cell:
                labels[column.removeprefix("label.")] = cell
        elif column not in POINT_COLUMNS:
            raise InputError(f"{path}: unknown column {column!r} (known: {', '.join(POINT_COLUMNS)}, label.<name>)")
        elif cell == "":
            continue
        elif column == "value":
            point["value"] = _number(path, line, cell)
        elif column == "timestamp":
            point["timestamp"] = _scalar(cell) if _is_number(cell) else cell
        elif column == "deploy":
            point["deploy"] = _deploy_ref(cell)
        elif column == "deploy_version":
            point["deploy"] = cell
        elif column == "labels":
            labels.update(_labels(path, line, cell))
        else:
            point[column] = cell
    if labels:
        point["labels"] = labels
    return point


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _number(path: str, line: int, cell: str) -> float:
    try:
        return float(cell)
    except ValueError:
        raise InputError(f"{path}: line {line}: value {cell!r} is not a number") from None


def _labels(path: str, line: int, cell: str) -> dict:
    try:
        labels = json.loads(cell)
    except ValueError:
        labels = None
    if not isinstance(labels, dict):
        raise InputError(f"{path}: line {line}: labels must be a JSON object")
    return labels


# --- prediction samples ----------------------------------------------------------------------------------


def read_samples(path: str, fmt: str | None) -> tuple[dict, list[dict]]:
    """(the payload's envelope fields found in the file, rows in row form)."""
    text = read_text(path)
    fmt = file_format(path, fmt)
    if fmt == "csv":
        return {}, _csv_samples([row for _, row in _csv_rows(path, text)])
    if fmt == "json":
        try:
            data = json.loads(text)
        except ValueError as problem:
            raise InputError(f"{path}: not valid JSON: {problem}") from None
        if isinstance(data, dict) and "columns" in data:
            return _columnar_to_rows(path, data)
    envelope, rows = _json_records(path, text, fmt, "rows")
    if any(not isinstance(row, dict) for row in rows):
        raise InputError(f"{path}: every row must be an object")
    return envelope, rows


def _csv_samples(rows: list[dict[str, str]]) -> list[dict]:
    """Rows in row form. A column's kind is decided on the whole column (a column of "1", "2", "A" is all
    strings), since the API refuses a column that mixes kinds."""
    cells = [{column: (cell or "").strip() for column, cell in row.items()} for row in rows]
    columns = list(cells[0]) if cells else []
    convert = {column: _column_kind([row[column] for row in cells]) for column in columns}
    samples = []
    for row in cells:
        sample: dict[str, Any] = {
            "features": {},
            "prediction": convert.get("prediction", _scalar)(row.get("prediction", "")),
        }
        for column, cell in row.items():
            if column in ROW_ROLES:
                if column != "prediction" and cell:
                    sample[column] = convert[column](cell)
            else:
                sample["features"][column] = convert[column](cell)
        samples.append(sample)
    return samples


def _column_kind(cells: list[str]) -> Any:
    present = [cell for cell in cells if cell]
    if all(_is_number(cell) for cell in present):
        return _scalar
    if all(cell.lower() in ("true", "false") for cell in present):
        return _scalar
    return lambda cell: cell or None


def _columnar_to_rows(path: str, data: dict) -> tuple[dict, list[dict]]:
    columns = data.get("columns")
    predictions = data.get("prediction")
    if not isinstance(columns, dict) or not isinstance(predictions, list):
        raise InputError(f"{path}: the columnar form needs a 'columns' object and a 'prediction' list")
    n = len(predictions)
    extra = {role: data[role] for role in ("label", "timestamp") if isinstance(data.get(role), list)}
    if any(not isinstance(values, list) or len(values) != n for values in [*columns.values(), *extra.values()]):
        raise InputError(f"{path}: every column needs one value per prediction ({n})")
    rows = [
        {"features": {name: values[i] for name, values in columns.items()}, "prediction": predictions[i]}
        | {role: values[i] for role, values in extra.items() if values[i] is not None}
        for i in range(n)
    ]
    envelope = {k: v for k, v in data.items() if k not in ("columns", "prediction", "label", "timestamp")}
    return envelope, rows


# --- batches -----------------------------------------------------------------------------------------------


def read_checks(path: str) -> list[dict]:
    """CI check results from a JSON file: the API's body `{"checks": [...]}` or a bare list of checks."""
    try:
        data = json.loads(read_text(path))
    except ValueError as problem:
        raise InputError(f"{path}: not valid JSON ({problem})") from None
    checks = data.get("checks") if isinstance(data, dict) else data
    if not isinstance(checks, list) or not all(isinstance(c, dict) for c in checks):
        raise InputError(f'{path}: expected {{"checks": [...]}} or a list of check objects')
    return checks


def batches(items: list, size: int) -> Iterator[list]:
    """Slices of at most `size` items, halved again while one would encode beyond MAX_BATCH_BYTES."""
    start = 0
    while start < len(items):
        step = size
        while step > 1 and len(json.dumps(items[start : start + step])) > MAX_BATCH_BYTES:
            step //= 2
        yield items[start : start + step]
        start += step


def batch_id(prefix: str, items: list, index: int) -> str:
    """The same batch sent again (a retry, a re-run job) has the same id, so the API stores it once."""
    digest = hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:32]
    return f"{prefix}-{index}-{digest}"[:200]
