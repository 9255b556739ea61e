"""Parsing and validating prediction-sample batches (row and columnar forms)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from metrics import predictions as p
from tracker.errors import TooLarge, Unprocessable

NOW = 1_800_000_000.0


def row_batch(rows, **extra):
    return {"service": "fraud-scorer", "environment": "production", "rows": rows, **extra}


def columnar(columns, prediction, **extra):
    return {
        "service": "fraud-scorer",
        "environment": "production",
        "columns": columns,
        "prediction": prediction,
        **extra,
    }


def problem(data) -> p.SamplesInvalid:
    with pytest.raises(p.SamplesInvalid) as caught:
        p.validate_batch(data, now=NOW)
    return caught.value


def by_name(batch: p.PredictionBatch) -> dict[str, p.Column]:
    return {c.name: c for c in batch.columns}


def test_it_reads_the_row_form_into_typed_columns():
    batch = p.validate_batch(
        row_batch(
            [
                {
                    "timestamp": "2027-01-15T08:00:00+01:00",
                    "features": {"income": 52.5, "country": "DE"},
                    "prediction": 0.9,
                },
                {"features": {"income": None, "vip": True}, "prediction": 0.2, "label": 1},
            ]
        ),
        now=NOW,
    )
    cols = by_name(batch)
    assert batch.n_rows == 2
    assert (cols["income"].kind, cols["country"].kind, cols["vip"].kind) == ("numeric", "categorical", "boolean")
    assert cols["income"].part() == (pytest.approx([52.5]), 1)
    values, nulls = cols["country"].part()
    assert list(values) == ["DE"] and nulls == 1
    assert list(cols["vip"].part()[0]) == ["true"]
    assert (cols["prediction"].role, cols["label"].role) == ("prediction", "label")
    assert cols["label"].part()[1] == 1  # the first row had no label
    assert list(batch.timestamps) == [NOW - 3600, NOW]  # a row without a time gets the receive time


def test_it_reads_the_columnar_form():
    batch = p.validate_batch(
        columnar({"a": [1, 2, None], "b": ["x", "y", "x"]}, [0.1, 0.2, 0.3], label=[0, 1, 0], timestamp=[NOW] * 3),
        now=NOW,
    )
    cols = by_name(batch)
    assert batch.n_rows == 3 and set(cols) == {"a", "b", "prediction", "label"}
    assert cols["a"].part() == (pytest.approx([1.0, 2.0]), 1)
    assert cols["a"].part(np.array([True, False, True])) == (pytest.approx([1.0]), 1)
    assert cols["b"].counts == {"x": 2, "y": 1} and cols["b"].present.all() and cols["a"].counts is None


def test_categories_and_booleans_are_counted_once_with_nulls_apart():
    batch = p.validate_batch(
        columnar({"c": ["x", None, "x", "y"], "v": [True, None, False, True]}, [0.1, 0.2, 0.3, 0.4]), now=NOW
    )
    cols = by_name(batch)
    assert cols["c"].counts == {"x": 2, "y": 1} and list(cols["c"].present) == [True, False, True, True]
    assert cols["v"].counts == {"true": 2, "false": 1} and list(cols["v"].present) == [True, False, True, True]


def test_it_rejects_ragged_columns():
    error = problem(columnar({"a": [1, 2], "b": [1, 2, 3]}, [0.1, 0.2, 0.3]))
    assert error.fields == {"columns.a": ["has 2 values, prediction has 3"]}


def test_it_rejects_a_column_that_mixes_kinds():
    error = problem(columnar({"a": [1, "two", 3]}, [0.1, 0.2, 0.3]))
    assert "columns.a" in error.fields and isinstance(error, Unprocessable)


def test_it_rejects_booleans_mixed_with_numbers():
    error = problem(row_batch([{"features": {"a": 1}, "prediction": 1}, {"features": {"a": True}, "prediction": 0}]))
    assert "columns.a" in error.fields


def test_it_rejects_nan_and_infinity_and_asks_for_null():
    with pytest.raises(p.SamplesInvalid, match="NaN is not allowed"):
        p.parse_json(b'{"columns": {"a": [NaN]}}')
    with pytest.raises(p.SamplesInvalid, match="Infinity"):
        p.parse_json(b'{"columns": {"a": [-Infinity]}}')


def test_it_rejects_a_number_too_large_for_a_float():
    error = problem(columnar({"a": [10**400]}, [0.5]))
    assert error.fields == {"columns.a": ["a number is too large"]}


def test_it_rejects_more_features_than_allowed():
    features = {f"f{i}": [1.0] for i in range(p.MAX_FEATURES + 1)}
    assert "columns" in problem(columnar(features, [0.5])).fields
    row = {"features": {f"f{i}": 1.0 for i in range(p.MAX_FEATURES + 1)}, "prediction": 0.5}
    assert "columns" in problem(row_batch([row])).fields


def test_it_rejects_too_many_categories_in_one_column():
    names = [f"user-{i}" for i in range(300)]
    error = problem(columnar({"user": names}, [0.5] * 300))
    assert "distinct categories" in error.fields["columns.user"][0]


def test_it_rejects_more_rows_than_a_batch_holds_with_413():
    error = problem(columnar({"a": [1.0] * (p.MAX_ROWS + 1)}, [0.5] * (p.MAX_ROWS + 1)))
    assert isinstance(error, TooLarge) and error.code == "invalid"


def test_it_rejects_an_all_null_column_whose_kind_it_cannot_learn():
    assert "columns.a" in problem(columnar({"a": [None, None]}, [0.1, 0.2])).fields


def test_it_rejects_rows_without_features_or_prediction_by_index():
    error = problem(row_batch([{"features": {"a": 1}, "prediction": 1}, {"prediction": 1}, {"features": {}}]))
    assert set(error.fields["rows"]) == {"1", "2"}
    assert "features" in error.fields["rows"]["1"] and "prediction" in error.fields["rows"]["2"]


def test_it_rejects_both_forms_at_once_and_unknown_fields():
    both = {**columnar({"a": [1]}, [0.5]), "rows": []}
    assert "rows" in problem(both).fields
    assert "non_field_errors" in problem({**columnar({"a": [1]}, [0.5]), "extra": 1}).fields


def test_it_rejects_a_missing_service_and_a_bad_deploy_reference():
    data = columnar({"a": [1]}, [0.5], deploy=True)
    del data["service"]
    assert set(problem(data).fields) == {"service", "deploy"}


def test_it_rejects_timestamps_without_a_timezone_or_far_in_the_future():
    error = problem(columnar({"a": [1, 2]}, [0.5, 0.5], timestamp=["2027-01-15T08:00:00", NOW + 3 * 86400]))
    assert set(error.fields["timestamp"]) == {"0", "1"}


def test_it_accepts_the_largest_batch_of_thirty_columns():
    n = p.MAX_ROWS
    gen = np.random.default_rng(0)
    body = json.dumps(
        columnar({f"f{i}": gen.normal(size=n).round(6).tolist() for i in range(30)}, gen.random(n).tolist())
    ).encode()
    batch = p.validate_batch(p.parse_json(body), now=NOW)
    assert batch.n_rows == n and len(batch.columns) == 31
    assert len(body) < 16 * 1024 * 1024


def test_it_rejects_lone_surrogates_as_invalid_json():
    with pytest.raises(p.SamplesInvalid, match="not valid JSON"):
        p.parse_json(b'{"columns": {"\\ud800": [1]}}')


def test_it_rejects_a_deploy_id_beyond_the_databases_range():
    assert "deploy" in problem(columnar({"a": [1]}, [0.5], deploy=2**63)).fields


def test_a_columns_kind_is_the_kind_of_all_its_values():
    numeric = p.typed_column("a", "feature", [None, 1, 2.5, None])
    assert numeric.kind == "numeric" and numeric.present.tolist() == [False, True, True, False]
    assert np.array_equal(numeric.values, [np.nan, 1.0, 2.5, np.nan], equal_nan=True)
    text = p.typed_column("b", "feature", [None, "x", "y"])
    assert text.kind == "categorical" and text.values.tolist() == [None, "x", "y"]
    assert p.typed_column("c", "feature", [True, None, False]).values.tolist() == ["true", None, "false"]
    for values, message in (
        ([1.0, True], "share one kind"),
        ([None, "x", 1], "share one kind"),
        ([1, 2, "3"], "share one kind"),
        ([None, None], "every value is null"),
        ([10**400, 1.0], "too large"),
    ):
        with pytest.raises(ValueError, match=message):
            p.typed_column("d", "feature", values)
