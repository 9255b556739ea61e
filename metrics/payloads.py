"""What the ingest payloads are made of, declared once with msgspec (pure: no Django imports).

`metrics.points` and `metrics.predictions` build their payloads from these types. The same definitions
decode request bodies (msgspec, straight from bytes), explain a refused body field by field, and give the
JSON Schema that the OpenAPI document serves — so the three cannot drift apart.
"""

from __future__ import annotations

import sys
from datetime import datetime
from functools import cache
from typing import Annotated, Any

import msgspec
from msgspec import Meta

MAX_VERSION_LENGTH = 100
MAX_BATCH_ID_LENGTH = 200
FUTURE_TOLERANCE_SECONDS = 24 * 3600
TIMESTAMP_DESCRIPTION = "an ISO 8601 time with a timezone, or epoch seconds"


def whole(body: str) -> str:
    """A pattern that must match the whole value, in Python (msgspec uses re.search) and ECMA-262 (the
    schema's dialect) alike: `$` alone also matches before a final newline in Python, so "name\\n" passed."""
    return "^" + body + r"$(?!\n)"


# Finite: NaN and Infinity fail both bounds.
FiniteFloat = Annotated[float, Meta(ge=-sys.float_info.max, le=sys.float_info.max)]
Timestamp = Annotated[datetime, Meta(tz=True)] | FiniteFloat
DeployRef = Annotated[int, Meta(ge=1, le=2**63 - 1)] | Annotated[str, Meta(min_length=1, max_length=MAX_VERSION_LENGTH)]
DEPLOY_RULE = f"a deploy id (integer) or version (1-{MAX_VERSION_LENGTH} characters)"
BatchId = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_BATCH_ID_LENGTH,
        description=f"a string of 1-{MAX_BATCH_ID_LENGTH} characters; a retried batch_id stores nothing twice",
    ),
]


def epoch_seconds(stamp: datetime | float | None, now: float) -> float:
    """A decoded timestamp as epoch seconds; a missing one is the receive time."""
    if stamp is None:
        return now
    if type(stamp) is float or type(stamp) is int:
        return float(stamp)
    return stamp.timestamp()


def is_valid(value: Any, kind: Any) -> bool:
    try:
        msgspec.convert(value, kind)
    except msgspec.ValidationError:
        return False
    return True


def deferring(struct: type[msgspec.Struct], replace: dict[str, Any]) -> type[msgspec.Struct]:
    """`struct` with some field types replaced: a decoder that leaves those fields' constraints for later.

    A batch repeats a few services and metric names thousands of times: checking a pattern once per distinct
    value (`deferred_valid`) instead of once per point is most of the decoding time. Derived from the one
    definition, so nothing is restated."""
    fields = []
    for field in msgspec.structs.fields(struct):
        kind = replace.get(field.name, field.type)
        fields.append((field.name, kind) if field.required else (field.name, kind, field.default))
    return msgspec.defstruct(struct.__name__, fields, forbid_unknown_fields=True, gc=False)


def deferred_valid(struct: type[msgspec.Struct], names: tuple[str, ...], columns: list[list[str]]) -> bool:
    """Whether every distinct value of each deferred column passes its field's full definition."""
    types = _field_types(struct)
    return all(
        is_valid(value, types[name]) for name, column in zip(names, columns, strict=True) for value in set(column)
    )


@cache
def _field_types(struct: type[msgspec.Struct]) -> dict[str, Any]:
    return {field.name: field.type for field in msgspec.structs.fields(struct)}


def field_problems(struct: type[msgspec.Struct], data: dict, *, skip: frozenset[str] = frozenset()) -> dict:
    """Every field of `data` that the definition refuses, each explained by its documented description;
    missing required fields and unknown fields too. Used to explain a refused body, never to accept one."""
    problems: dict[str, list[str]] = {}
    for field in msgspec.structs.fields(struct):
        if field.encode_name in skip:
            continue
        if field.encode_name not in data:
            if field.required:
                problems[field.encode_name] = [describe(struct, field.encode_name)]
        elif not is_valid(data[field.encode_name], field.type):
            problems[field.encode_name] = [describe(struct, field.encode_name)]
    unknown = set(data) - {field.encode_name for field in msgspec.structs.fields(struct)}
    if unknown:
        problems["non_field_errors"] = [f"unknown fields: {', '.join(sorted(map(str, unknown)))}"]
    return problems


def describe(struct: type[msgspec.Struct], name: str) -> str:
    return _properties(struct)[name].get("description", "not valid")


@cache
def _properties(struct: type[msgspec.Struct]) -> dict:
    schema = msgspec.json.schema(struct)
    return schema["$defs"][struct.__name__]["properties"]


def json_schema(kind: Any) -> dict:
    """The JSON Schema (2020-12) of a payload type, self-contained: OpenAPI 3.1 serves it as it is, and a
    `$ref` into `$defs` would resolve against the OpenAPI document rather than this schema."""
    schema = msgspec.json.schema(kind)
    definitions = schema.pop("$defs", {})
    return _inline(schema, definitions)


def _inline(node: Any, definitions: dict) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:  # keywords beside the reference (e.g. extra_json_schema) are kept
            target = definitions[node["$ref"].rsplit("/", 1)[1]]
            node = {**target, **{key: value for key, value in node.items() if key != "$ref"}}
        return {key: _inline(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline(item, definitions) for item in node]
    return node
