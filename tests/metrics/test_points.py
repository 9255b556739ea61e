"""Parsing and validating metric point batches (pure, no database)."""

import json
from datetime import UTC, datetime

import pytest

from metrics.points import MAX_POINTS, PointBatch, PointsInvalid, decode_points, parse_body, validate_points

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC).timestamp()


def _point(**overrides):
    point = {
        "service": "fraud-scorer",
        "environment": "production",
        "name": "latency_ms",
        "value": 12.5,
        "timestamp": "2026-11-28T08:59:00Z",
    }
    point.update(overrides)
    return point


def _errors(rows):
    with pytest.raises(PointsInvalid) as caught:
        validate_points(rows, now=NOW, retention_days=30)
    return caught.value.fields["points"]


def test_it_returns_a_columnar_batch_for_valid_points():
    batch = validate_points(
        [_point(), _point(value=3, timestamp=NOW - 60, labels={"region": "eu"}, deploy="v2")],
        now=NOW,
        retention_days=30,
    )
    assert batch.names == ["latency_ms", "latency_ms"]
    assert batch.values.tolist() == [12.5, 3.0]
    assert batch.timestamps.tolist() == [NOW - 60, NOW - 60]
    assert batch.labels == [None, {"region": "eu"}]
    assert batch.deploys == [None, "v2"]


def test_a_point_without_timestamp_is_stamped_with_the_receive_time():
    point = _point()
    del point["timestamp"]
    assert validate_points([point], now=NOW, retention_days=30).timestamps.tolist() == [NOW]


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"value": float("nan")}, "value"),
        ({"value": float("inf")}, "value"),
        ({"value": float("-inf")}, "value"),
        ({"value": "12"}, "value"),
        ({"value": True}, "value"),
        ({"value": None}, "value"),
        ({"value": 10**400}, "value"),
        ({"timestamp": "2026-11-29T09:00:01Z"}, "timestamp"),
        ({"timestamp": "2026-10-01T00:00:00Z"}, "timestamp"),
        ({"timestamp": "2026-11-28T08:59:00"}, "timestamp"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"name": "x" * 201}, "name"),
        ({"name": "has space"}, "name"),
        ({"service": ""}, "service"),
        ({"environment": 5}, "environment"),
        ({"labels": {f"k{i}": "v" for i in range(17)}}, "labels"),
        ({"labels": {"k": "v" * 201}}, "labels"),
        ({"labels": ["a"]}, "labels"),
        ({"deploy": -1}, "deploy"),
        ({"colour": "red"}, "non_field_errors"),
    ],
)
def test_it_rejects_a_bad_point_by_its_index(overrides, field):
    errors = _errors([_point(), _point(**overrides)])
    assert list(errors) == ["1"]
    assert field in errors["1"]


def test_it_reports_every_bad_point_not_just_the_first():
    errors = _errors([_point(value="a"), _point(), _point(name=""), _point(timestamp="nope")])
    assert sorted(errors) == ["0", "2", "3"]


def test_it_rejects_an_empty_or_oversized_batch():
    with pytest.raises(PointsInvalid):
        validate_points([], now=NOW, retention_days=30)
    with pytest.raises(PointsInvalid) as caught:
        validate_points([_point()] * (MAX_POINTS + 1), now=NOW, retention_days=30)
    assert "at most 10000" in caught.value.message


def test_it_parses_json_with_a_batch_id_and_ndjson():
    body = json.dumps({"batch_id": "b-1", "points": [_point()]}).encode()
    assert parse_body(body, "application/json") == ([_point()], "b-1")
    lines = "\n".join(json.dumps(_point(value=v)) for v in (1, 2)).encode()
    rows, batch_id = parse_body(lines, "application/x-ndjson")
    assert [r["value"] for r in rows] == [1, 2] and batch_id is None


def test_it_turns_json_nan_literals_into_a_per_point_error():
    rows, _ = parse_body(b'{"points": [{"service": "a", "environment": "b", "name": "c", "value": NaN}]}', "json")
    with pytest.raises(PointsInvalid) as caught:
        validate_points(rows, now=NOW, retention_days=30)
    assert caught.value.fields["points"]["0"]["value"] == ["must be finite (no NaN or Infinity)"]


@pytest.mark.parametrize("body", [b"{not json", b'"a string"', b'{"points": 3}', b"\xff\xfe"])
def test_it_rejects_a_body_that_is_not_a_batch(body):
    with pytest.raises(PointsInvalid):
        parse_body(body, "application/json")


def test_it_reports_the_ndjson_line_that_is_not_json():
    with pytest.raises(PointsInvalid) as caught:
        parse_body(b'{"a": 1}\n{oops\n', "application/x-ndjson")
    assert caught.value.fields == {"lines": {"1": ["this line is not valid JSON"]}}


def test_it_refuses_unknown_top_level_fields():
    with pytest.raises(PointsInvalid) as caught:
        parse_body(json.dumps({"points": [_point()], "batchid": "typo"}).encode(), "application/json")
    assert caught.value.fields == {"batchid": ["unknown field"]}


def _decode(points) -> PointBatch:
    return decode_points(json.dumps({"points": points}).encode(), "application/json", now=NOW, retention_days=30)


def _decode_errors(points):
    with pytest.raises(PointsInvalid) as caught:
        _decode(points)
    return caught.value.fields["points"]


def test_decoding_reads_each_distinct_label_text_once_and_shares_equal_sets():
    body = (
        b'{"points": [' + b",".join(json.dumps(_point()).encode()[:-1] + b', "labels": ' + text + b"}" for text in (
            b'{"a": 1, "b": "x"}', b'{ "a" :1,"b":"x" }', b'{"b": "x"}', b"{}", b"null", b'{"a": 1, "b": "x"}'
        )) + b"," + json.dumps(_point()).encode() + b"]}"
    )  # fmt: skip
    batch = decode_points(body, "application/json", now=NOW, retention_days=30)
    assert batch.labels == [{"a": 1, "b": "x"}, {"a": 1, "b": "x"}, {"b": "x"}, None, None, {"a": 1, "b": "x"}, None]
    sets, codes = batch.label_sets
    assert sets == [{"a": 1, "b": "x"}, {"b": "x"}]
    assert codes.tolist() == [0, 0, 1, -1, -1, 0, -1]


def test_decoding_explains_bad_labels_per_index_as_the_lenient_path_does():
    points = [
        _point(labels={"ok": "yes"}),
        _point(labels={f"k{i}": "v" for i in range(17)}),
        _point(timestamp=NOW + 3 * 86400, labels={"ok": "yes"}),
        _point(labels={"nested": {"no": 1}}),
        _point(labels={"k": "v" * 201}),
        _point(labels=["a"]),
    ]
    errors = _decode_errors(points)
    assert sorted(errors) == ["1", "2", "3", "4", "5"]
    assert errors == _errors(points)


def test_decoding_explains_a_bad_name_beside_points_with_labels():
    points = [_point(labels={"region": "eu"}), _point(name="9 bad name", labels={"region": "eu"}), _point()]
    errors = _decode_errors(points)
    assert list(errors) == ["1"] and "name" in errors["1"]
    assert errors == _errors(points)
