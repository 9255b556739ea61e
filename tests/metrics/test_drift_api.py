"""POST /api/v1/predictions and GET /api/v1/deploys/{id}/drift: storage, validation, scoping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.utils import timezone

from deployments.models import Deploy
from deployments.services import deploy_processed_mark
from metrics.drift import services
from metrics.drift.models import ColumnSketch, DriftReport, SampleBatch, SampleColumn
from metrics.stats import sketch as sk
from tests.helpers import client_for, error_code

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def post_deploy(api, version: str, at: datetime, **extra) -> Deploy:
    body = {"service": "fraud-scorer", "environment": "production", "version": version, **extra}
    body["finished_at"] = at.isoformat()
    response = api.post("/api/v1/deploys", body, format="json")
    assert response.status_code == 201, response.content
    deploy_processed_mark(deploy_id=response.json()["id"])  # what the deploy task does: link the baseline
    return Deploy.objects.get(pk=response.json()["id"])


def post_samples(api, body: dict, **headers):
    envelope = {"service": "fraud-scorer", "environment": "production"}
    return api.post("/api/v1/predictions", json.dumps({**envelope, **body}), content_type="application/json", **headers)


def columnar(n: int, seed: int, shift: float = 0.0, **extra) -> dict:
    gen = np.random.default_rng(seed)
    return {
        "columns": {
            "amount": (gen.normal(100 + shift, 10, n)).round(4).tolist(),
            "country": gen.choice(["DE", "FR", "IT"], n).tolist(),
            "is_new": (gen.random(n) < 0.2).tolist(),
        },
        "prediction": gen.random(n).round(4).tolist(),
        **extra,
    }


def sketch_of(deploy: Deploy, name: str) -> sk.Sketch:
    row = ColumnSketch.objects.select_related("column").get(deploy=deploy, column__name=name)
    return sk.from_bytes(bytes(row.data), edges=row.column.edges_array())


@pytest.fixture
def deploy(api) -> Deploy:
    return post_deploy(api, "1.0", T0)


def test_it_stores_a_columnar_batch_in_the_deploys_sketches_and_learns_the_kinds(api, deploy):
    response = post_samples(api, columnar(500, seed=1, deploy=deploy.pk))
    assert response.status_code == 202, response.content
    assert response.json() == {
        "rows": 500,
        "deploys": {str(deploy.pk): 500},
        "new_columns": ["columns.amount", "columns.country", "columns.is_new", "prediction"],
        "duplicate": False,
    }
    kinds = dict(SampleColumn.objects.values_list("name", "kind"))
    assert kinds == {"amount": "numeric", "country": "categorical", "is_new": "boolean", "prediction": "numeric"}
    assert sketch_of(deploy, "amount").n == 500
    assert sum(sketch_of(deploy, "country").counts.values()) == 500


def test_it_stores_a_row_batch_and_counts_missing_values(api, deploy):
    rows = [
        {
            "timestamp": (T0 + timedelta(minutes=5)).isoformat(),
            "features": {"amount": 10.5, "country": "DE"},
            "prediction": 0.3,
            "label": 1,
        },
        {"timestamp": (T0 + timedelta(minutes=6)).isoformat(), "features": {"amount": None}, "prediction": 0.7},
    ]
    response = post_samples(api, {"rows": rows})
    assert response.status_code == 202, response.content
    amount, country, label = sketch_of(deploy, "amount"), sketch_of(deploy, "country"), sketch_of(deploy, "label")
    assert (amount.n, amount.nulls) == (1, 1)
    assert (country.n, country.nulls) == (1, 1)
    assert (label.n, label.nulls) == (1, 1)


def test_it_attributes_rows_to_the_deploy_live_at_their_time(api, deploy):
    second = post_deploy(api, "1.1", T0 + timedelta(hours=1))
    stamps = [(T0 + timedelta(minutes=m)).timestamp() for m in (10, 20, 70, 80, 90)]
    body = {"columns": {"amount": [1.0, 2.0, 3.0, 4.0, 5.0]}, "prediction": [0.1] * 5, "timestamp": stamps}
    response = post_samples(api, body)
    assert response.json()["deploys"] == {str(deploy.pk): 2, str(second.pk): 3}
    assert sorted(sketch_of(second, "amount").reservoir) == [3.0, 4.0, 5.0]


def test_it_counts_a_retried_batch_once(api, deploy):
    body = columnar(100, seed=2, deploy=deploy.pk, batch_id="scorer-1-0001")
    assert post_samples(api, body).json()["duplicate"] is False
    assert post_samples(api, body).json()["duplicate"] is True
    assert sketch_of(deploy, "amount").n == 100
    assert SampleBatch.objects.count() == 1


def test_a_batch_id_sent_as_idempotency_key_or_query_parameter_stops_a_retry_too(api, deploy):
    """As on the metrics endpoint: a client that keys its retries in the header (or ?batch_id=) is counted once."""
    body = columnar(100, seed=2, deploy=deploy.pk)
    first = post_samples(api, body, HTTP_IDEMPOTENCY_KEY="scorer-1-0002")
    assert (first.status_code, first.json()["duplicate"]) == (202, False)
    assert post_samples(api, body, HTTP_IDEMPOTENCY_KEY="scorer-1-0002").json()["duplicate"] is True
    envelope = {"service": "fraud-scorer", "environment": "production"}
    again = api.post(
        "/api/v1/predictions?batch_id=scorer-1-0002", json.dumps({**envelope, **body}), content_type="application/json"
    )
    assert again.json()["duplicate"] is True
    assert sketch_of(deploy, "amount").n == 100
    too_long = post_samples(api, body, HTTP_IDEMPOTENCY_KEY="k" * 201)
    assert (too_long.status_code, error_code(too_long)) == (400, "invalid")
    assert too_long.json()["error"]["fields"]["batch_id"]
    assert sketch_of(deploy, "amount").n == 100 and SampleBatch.objects.count() == 1


def test_batch_ids_past_the_retention_are_forgotten_and_newer_ones_still_stop_a_retry(api, deploy, settings):
    from metrics.drift.tasks import samples_retention

    settings.METRIC_RETENTION_DAYS = 30
    old, recent = (columnar(10, seed=s, deploy=deploy.pk, batch_id=f"scorer-{s}") for s in (3, 4))
    post_samples(api, old)
    post_samples(api, recent)
    SampleBatch.objects.filter(batch_id="scorer-3").update(received_at=timezone.now() - timedelta(days=31))
    assert samples_retention() == 1
    assert list(SampleBatch.objects.values_list("batch_id", flat=True)) == ["scorer-4"]
    assert post_samples(api, recent).json()["duplicate"] is True
    assert sketch_of(deploy, "amount").n == 20


def nothing_stored() -> bool:
    return not ColumnSketch.objects.exists() and not SampleColumn.objects.exists() and not SampleBatch.objects.exists()


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"columns": {"amount": [1.0, 2.0]}, "prediction": [0.1]}, 400),  # ragged
        ({"columns": {"amount": [1.0, "x"]}, "prediction": [0.1, 0.2]}, 422),  # mixed kinds
        ({"columns": {f"f{i}": [1.0] for i in range(101)}, "prediction": [0.1]}, 400),  # too many features
        ({"columns": {"user": [f"u{i}" for i in range(300)]}, "prediction": [0.1] * 300}, 422),  # an identifier
        ({"columns": {"amount": [1.0]}, "prediction": [0.1], "deploy": 999_999}, 422),  # unknown deploy
        ({"columns": {"amount": [1.0]}, "prediction": [0.1], "timestamp": [0]}, 422),  # before the first deploy
        ({"columns": {"amount": [1.0]}, "prediction": [0.1], "service": "nope"}, 422),  # unknown service
        ({"columns": {"amount": [1.0]}}, 400),  # no prediction
        ({"rows": [{"features": {"amount": 1.0}}]}, 400),  # a row without a prediction
    ],
)
def test_it_rejects_bad_batches_with_the_error_shape_and_stores_nothing(api, deploy, body, status):
    response = post_samples(api, body)
    assert response.status_code == status, response.content
    error_code(response)
    assert nothing_stored()


def test_it_rejects_nan_and_stores_nothing(api, deploy):
    raw = '{"service": "fraud-scorer", "environment": "production", "columns": {"a": [NaN]}, "prediction": [0.1]}'
    response = api.post("/api/v1/predictions", raw, content_type="application/json")
    assert response.status_code == 400 and "NaN" in response.json()["error"]["message"]
    assert nothing_stored()


def test_it_rejects_a_value_of_another_kind_than_the_column_learned_and_stores_nothing(api, deploy):
    post_samples(api, columnar(50, seed=3, deploy=deploy.pk))
    before = sketch_of(deploy, "amount").n
    body = columnar(50, seed=4, deploy=deploy.pk)
    body["columns"]["amount"] = ["high"] * 50
    body["columns"]["brand_new"] = [1.0] * 50
    response = post_samples(api, body)
    assert response.status_code == 422
    assert response.json()["error"]["fields"] == {"columns.amount": ["this column is numeric, not categorical"]}
    assert sketch_of(deploy, "amount").n == before and sketch_of(deploy, "country").n == 50
    assert not SampleColumn.objects.filter(name="brand_new").exists()


def test_it_answers_413_to_a_body_over_the_ingest_limit(api, deploy, settings):
    settings.INGEST_MAX_BODY_BYTES = 1000
    response = post_samples(api, columnar(200, seed=5, deploy=deploy.pk))
    assert response.status_code == 413
    assert error_code(response) == "body_too_large"
    assert nothing_stored()


def test_it_answers_415_to_a_body_that_is_not_json(api, deploy):
    response = api.post("/api/v1/predictions", "a,b\n1,2", content_type="text/csv")
    assert response.status_code == 415
    error_code(response)


def test_it_needs_a_token_with_the_ingest_scope(project, make_token, deploy):
    assert client_for(None).post("/api/v1/predictions", {}, format="json").status_code == 401
    reader = client_for(make_token(project, ["read"]))
    response = post_samples(reader, columnar(5, seed=6, deploy=deploy.pk))
    assert response.status_code == 403 and error_code(response) == "insufficient_scope"
    assert nothing_stored()


def test_another_projects_token_cannot_write_to_or_read_this_projects_deploys(other_api, deploy):
    response = post_samples(other_api, columnar(5, seed=7, deploy=deploy.pk))
    assert response.status_code == 422  # its project has no such service: nothing of alpha's is touched
    assert nothing_stored()
    response = other_api.get(f"/api/v1/deploys/{deploy.pk}/drift")
    assert response.status_code == 404 and error_code(response) == "not_found"


def test_it_reports_drift_against_the_baseline(api, deploy):
    current = post_deploy(api, "1.1", T0 + timedelta(hours=1), expected_drift=["country"])
    assert current.baseline_id == deploy.pk
    post_samples(api, columnar(800, seed=8, deploy=deploy.pk))
    post_samples(api, columnar(800, seed=9, shift=5.0, deploy=current.pk))
    services.drift_compute(deploy=Deploy.objects.select_related("service", "baseline").get(pk=current.pk))
    body = api.get(f"/api/v1/deploys/{current.pk}/drift").json()
    assert body["status"] == "ok" and body["baseline"] == deploy.pk
    assert body["computed_at"] and body["compute_ms"] >= 0
    columns = {c["column"]: c for c in body["columns"]}
    amount = columns["amount"]
    assert (amount["method"], amount["verdict"], amount["n_ref"], amount["n_cur"]) == ("ks", "drifted", 800, 800)
    assert amount["p_value"] < 1e-10 and amount["threshold"] == 0.05 and len(amount["bins"]) == 10
    assert columns["country"]["method"] == "chisquare" and columns["country"]["verdict"] in ("stable", "expected")
    assert columns["is_new"]["method"] == "z"
    assert body["n_drifted"] == 1 and body["n_columns"] == 4


def test_it_says_no_data_for_a_deploy_without_samples(api, deploy):
    body = api.get(f"/api/v1/deploys/{deploy.pk}/drift").json()
    assert body["status"] == "no_data" and body["columns"] == []


def test_it_says_no_baseline_for_the_first_deploy(api, deploy):
    post_samples(api, columnar(50, seed=10, deploy=deploy.pk))
    services.drift_compute(deploy=Deploy.objects.select_related("service", "baseline").get(pk=deploy.pk))
    assert api.get(f"/api/v1/deploys/{deploy.pk}/drift").json()["status"] == "no_baseline"


def test_ingest_marks_the_report_due_once_until_it_is_claimed(api, deploy):
    post_samples(api, columnar(20, seed=11, deploy=deploy.pk))
    post_samples(api, columnar(20, seed=12, deploy=deploy.pk))
    report = DriftReport.objects.get(deploy=deploy)
    assert report.due_at is not None
    assert services.drift_claim(deploy_id=deploy.pk) is True
    assert services.drift_claim(deploy_id=deploy.pk) is False


ODD_VALUES = [None, True, 0, -1, 2**63, 1e308, -1e308, 0.5, "", "x" * 300, "\u00e9", [], [None], [[1]], {}, {"a": 1}]


def mutations(base: dict, seed: int, count: int):
    """Valid-looking batches with one or two parts swapped for odd values, at every depth."""
    gen = np.random.default_rng(seed)
    paths = [
        ("service",),
        ("environment",),
        ("deploy",),
        ("batch_id",),
        ("columns",),
        ("columns", "amount"),
        ("columns", "country"),
        ("prediction",),
        ("label",),
        ("timestamp",),
        ("extra",),
    ]
    for _ in range(count):
        body = json.loads(json.dumps(base))
        for index in gen.choice(len(paths), size=gen.integers(1, 3), replace=False):
            path, value = paths[index], ODD_VALUES[gen.integers(len(ODD_VALUES))]
            target = body
            for key in path[:-1]:
                target = target.setdefault(key, {}) if isinstance(target, dict) else {}
            if isinstance(target, dict):
                target[path[-1]] = value
        yield body


def test_odd_batches_get_a_4xx_or_a_202_never_a_500(api, deploy):
    base = columnar(3, seed=20, deploy=deploy.pk)
    base["label"], base["timestamp"] = [0, 1, None], [T0.timestamp() + 60] * 3
    for body in mutations({"service": "fraud-scorer", "environment": "production", **base}, seed=21, count=150):
        response = api.post("/api/v1/predictions", json.dumps(body), content_type="application/json")
        assert response.status_code in (202, 400, 404, 409, 413, 415, 422), (body, response.content)
        if response.status_code != 202:
            error_code(response)


def test_it_reports_realised_quality_from_the_labels_on_both_sides(api, deploy):
    from scipy import stats

    current = post_deploy(api, "1.1", T0 + timedelta(hours=1))
    sent = {}
    for target, seed, lift in ((deploy, 30, 0.3), (current, 31, 0.05)):  # the new model separates worse
        gen = np.random.default_rng(seed)
        labels = (gen.random(600) < 0.3).astype(int)
        scores = np.clip(gen.normal(0.35 + lift * labels, 0.15), 0, 1).round(4)
        body = {"columns": {"amount": gen.normal(size=600).tolist()}, "prediction": scores.tolist()}
        body["label"] = [None if i % 10 == 0 else int(v) for i, v in enumerate(labels)]  # some not labelled yet
        post_samples(api, {**body, "deploy": target.pk})
        keep = np.arange(600) % 10 != 0
        sent[target.pk] = (scores[keep], labels[keep])
    services.drift_compute(deploy=Deploy.objects.select_related("service", "baseline").get(pk=current.pk))
    quality = api.get(f"/api/v1/deploys/{current.pk}/drift").json()["quality"]
    for side, target in (("baseline", deploy), ("current", current)):
        scores, labels = sent[target.pk]
        u = stats.mannwhitneyu(scores[labels == 1], scores[labels == 0]).statistic
        figures = quality[side]
        assert (figures["task"], figures["n"], figures["exact"]) == ("binary", 540, True)
        assert figures["auc"] == pytest.approx(u / ((labels == 1).sum() * (labels == 0).sum()))
        assert figures["brier"] == pytest.approx(np.mean((scores - labels) ** 2))
    assert quality["current"]["auc"] < quality["baseline"]["auc"]
