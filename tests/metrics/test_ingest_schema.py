"""The served OpenAPI request schemas of the ingest operations are the payload definitions themselves, and a
JSON Schema validator (jsonschema, with RFC 3339 format checks) accepts and refuses what the API does."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from jsonschema import Draft202012Validator

from deployments.services import deploy_record
from metrics.points import points_json_schema
from metrics.predictions import predictions_json_schema

pytestmark = pytest.mark.django_db


def _served(client, path: str) -> dict:
    if not _DOCUMENT:
        _DOCUMENT.update(client.get("/api/schema/", {"format": "json"}).json())
    assert _DOCUMENT["openapi"].startswith("3.1")  # schemas are JSON Schema 2020-12
    return _DOCUMENT["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]


_DOCUMENT: dict = {}  # generated once per run: the document does not depend on the data


def _validator(schema: dict) -> Draft202012Validator:
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def test_the_served_request_schema_of_post_metrics_is_the_definitions_json_schema(client):
    assert _served(client, "/api/v1/metrics") == points_json_schema()


def test_the_served_request_schema_of_post_predictions_is_the_definitions_json_schema(client):
    assert _served(client, "/api/v1/predictions") == predictions_json_schema()


# --- POST /api/v1/metrics ----------------------------------------------------------------------------


def _point(**overrides) -> dict:
    point = {"service": "fraud-scorer", "environment": "production", "name": "latency_ms", "value": 12.5}
    return {key: value for key, value in (point | overrides).items() if value is not ...}


KINDS = [1.5, -3, True, None, "v"]


def _recent() -> str:
    return (timezone.now() - timedelta(minutes=5)).isoformat()


METRIC_BODIES = [
    ("a full point", lambda: {"batch_id": "b", "points": [_point(timestamp=_recent(), labels={"a": 1}, deploy="1.0")]}),
    ("a bare list of points", lambda: [_point(), _point(name="errors/s:total")]),
    ("epoch seconds and nulls", lambda: {"points": [_point(timestamp=time.time() - 60, labels=None, deploy=None)]}),
    ("16 labels of every kind", lambda: {"points": [_point(labels={f"k{i}": KINDS[i % 5] for i in range(16)})]}),
    ("a label integer beyond 64 bits", lambda: {"points": [_point(labels={"n": 2**64})]}),
    ("a lower-case RFC 3339 time", lambda: {"points": [_point(timestamp=_recent().lower().replace("+00:00", "z"))]}),
    ("a name ending in a newline", lambda: {"points": [_point(name="latency_ms\n")]}),
    ("a service ending in a newline", lambda: {"points": [_point(service="fraud-scorer\n")]}),
    ("a name of 201 characters", lambda: {"points": [_point(name="m" * 201)]}),
    ("a name starting with a digit", lambda: {"points": [_point(name="1m")]}),
    ("a service starting with a dash", lambda: {"points": [_point(service="-fraud")]}),
    ("a value that is a string", lambda: {"points": [_point(value="12")]}),
    ("a value that is a boolean", lambda: {"points": [_point(value=True)]}),
    ("a value beyond a double", lambda: {"points": [_point(value=10**400)]}),
    ("no value", lambda: {"points": [_point(value=...)]}),
    ("an unknown field in a point", lambda: {"points": [_point(colour="red")]}),
    ("17 labels", lambda: {"points": [_point(labels={f"k{i}": "v" for i in range(17)})]}),
    ("a label value of 201 characters", lambda: {"points": [_point(labels={"k": "v" * 201})]}),
    ("an empty label name", lambda: {"points": [_point(labels={"": "v"})]}),
    ("a label value that is a list", lambda: {"points": [_point(labels={"k": [1]})]}),
    ("deploy 0", lambda: {"points": [_point(deploy=0)]}),
    ("a deploy id beyond 63 bits", lambda: {"points": [_point(deploy=2**63)]}),
    ("a time without a timezone", lambda: {"points": [_point(timestamp="2026-11-28T08:59:00")]}),
    ("a time that is not a time", lambda: {"points": [_point(timestamp="yesterday")]}),
    ("February 30th", lambda: {"points": [_point(timestamp="2026-02-30T08:59:00Z")]}),
    ("no points", lambda: {"points": []}),
    ("10,001 points", lambda: {"points": [_point()] * 10_001}),
    ("an empty batch_id", lambda: {"points": [_point()], "batch_id": ""}),
    ("an unknown top-level field", lambda: {"points": [_point()], "batchid": "b-1"}),
    ("points that are not a list", lambda: {"points": _point()}),
]  # fmt: skip


@pytest.fixture
def stream(project):
    deploy_record(
        project=project,
        service="fraud-scorer",
        environment="production",
        version="1.0",
        finished_at=timezone.now() - timedelta(hours=3),
    )


@pytest.mark.parametrize("label,body", METRIC_BODIES, ids=[case[0] for case in METRIC_BODIES])
def test_the_served_metrics_schema_accepts_and_refuses_what_the_api_does(client, api, stream, label, body):
    payload = body()
    valid = _validator(_served(client, "/api/v1/metrics")).is_valid(payload)
    response = api.post("/api/v1/metrics", data=json.dumps(payload), content_type="application/json")
    assert response.status_code in (202, 400), response.content
    assert valid == (response.status_code == 202), (valid, response.content)


def test_both_answers_of_the_agreement_test_occur(client):
    validator = _validator(_served(client, "/api/v1/metrics"))
    verdicts = {validator.is_valid(body()) for _, body in METRIC_BODIES}
    assert verdicts == {True, False}


# --- POST /api/v1/predictions ----------------------------------------------------------------------

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
STAMPS = [T0.isoformat(), T0.timestamp() + 60, None]


def _columnar(**overrides) -> dict:
    body = {
        "service": "fraud-scorer",
        "environment": "production",
        "columns": {"amount": [10.5, None, 3], "country": ["DE", "FR", None], "vip": [True, False, None]},
        "prediction": [0.1, 0.9, 0.5],
    }
    return {key: value for key, value in (body | overrides).items() if value is not ...}


def _rows(**overrides) -> dict:
    row = {"features": {"amount": 10.5, "country": "DE"}, "prediction": 0.3, "label": None}
    body = {"service": "fraud-scorer", "environment": "production", "rows": [row, row | {"label": 1}]}
    return body | overrides


PREDICTION_BODIES = [
    ("a columnar batch", lambda: _columnar()),
    ("a columnar batch with labels and times", lambda: _columnar(label=[0, 1, None], timestamp=STAMPS, batch_id="s-1")),
    ("a row batch", lambda: _rows()),
    ("a row with its time", lambda: _rows(rows=[{"features": {"a": 1}, "prediction": 0.2, "timestamp": STAMPS[0]}])),
    ("both forms", lambda: _columnar(rows=[{"features": {}, "prediction": 1}])),
    ("neither form", lambda: _columnar(columns=..., prediction=...)),
    ("columns without a prediction", lambda: _columnar(prediction=...)),
    ("row form with a top-level label", lambda: _rows(label=[1, 0])),
    ("row form with top-level times", lambda: _rows(timestamp=None)),
    ("a row without a prediction", lambda: _rows(rows=[{"features": {"amount": 1}}])),
    ("a row with an unknown field", lambda: _rows(rows=[{"features": {}, "prediction": 1, "score": 2}])),
    ("an unknown top-level field", lambda: _columnar(model="gbm")),
    ("an empty service", lambda: _columnar(service="")),
    ("an empty feature name", lambda: _columnar(columns={"": [1, 2, 3]})),
    ("101 features", lambda: _columnar(columns={f"f{i}": [1, 2, 3] for i in range(101)})),
    ("a value that is a list", lambda: _columnar(columns={"amount": [[1], 2, 3]})),
    ("a category of 201 characters", lambda: _columnar(columns={"country": ["x" * 201, "DE", "FR"]})),
    ("a time without a timezone", lambda: _columnar(timestamp=["2026-11-20T12:00:00", None, None])),
    ("a deploy id that is a boolean", lambda: _columnar(deploy=True)),
    ("no rows", lambda: _rows(rows=[])),
]  # fmt: skip


@pytest.fixture
def deploy(project):
    deploy, _ = deploy_record(
        project=project, service="fraud-scorer", environment="production", version="1.0", finished_at=T0
    )
    return deploy


@pytest.mark.parametrize("label,body", PREDICTION_BODIES, ids=[case[0] for case in PREDICTION_BODIES])
def test_the_served_predictions_schema_accepts_and_refuses_what_the_api_does(client, api, deploy, label, body):
    payload = body()
    valid = _validator(_served(client, "/api/v1/predictions")).is_valid(payload)
    response = api.post("/api/v1/predictions", data=json.dumps(payload), content_type="application/json")
    assert response.status_code in (202, 400, 413, 422), response.content
    assert valid == (response.status_code == 202), (valid, response.content)
