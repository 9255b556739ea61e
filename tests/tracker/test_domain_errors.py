"""Services refuse with domain errors (tracker.errors); the API answers them in one shape, byte for byte.

The expected answers below were recorded from the API as it answered when services still raised HTTP
errors themselves: moving the mapping into the exception handler must not change a single byte.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from alerts.rules import ColumnFact, DeployFacts
from alerts.services import alerts_evaluate_deploy
from deployments.models import Deploy
from tests.helpers import client_for
from tests.rollbacks.rollback_world import history
from tracker import outbound
from tracker.api_errors import domain_status, exception_handler
from tracker.errors import Conflict, DomainError, FieldsInvalid, Invalid, TooLarge, Unprocessable
from tracker.services import token_issue


def exact(response, status: int, code: str, message: str, fields: dict | None = None) -> None:
    """The answer is this status and these bytes: DRF's compact JSON of the one error shape."""
    body = {"error": {"code": code, "message": message, "fields": fields or {}}}
    assert response.status_code == status, response.content
    assert response.content == json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (Invalid("the name is taken", fields={"name": ["taken"]}), 400),
        (Conflict("it moved on", code="invalid_transition"), 409),
        (Unprocessable("no such stream", code="unknown_stream"), 422),
        (TooLarge("at most 10 rows", code="invalid"), 413),
    ],
)
def test_each_kind_of_domain_error_has_one_status_and_the_error_shape(error: DomainError, status: int) -> None:
    response = exception_handler(error, {})
    assert (response.status_code, domain_status(error)) == (status, status)
    assert response.data == {"error": {"code": error.code, "message": error.message, "fields": error.fields}}


def test_a_subjects_error_of_a_narrower_kind_has_the_status_of_that_kind() -> None:
    """`SamplesInvalid` is Invalid (400); its too-large and unprocessable variants are 413 and 422 all the same."""
    from metrics.impact.cardinality import CardinalityExceeded
    from metrics.points import PointsInvalid
    from metrics.predictions import SamplesInvalid, SamplesTooLarge, SamplesUnprocessable

    statuses = [
        domain_status(error("x"))
        for error in (SamplesInvalid, SamplesTooLarge, SamplesUnprocessable, PointsInvalid, CardinalityExceeded)
    ]
    assert statuses == [400, 413, 422, 400, 422]
    assert all(isinstance(error("x"), Invalid) for error in (SamplesTooLarge, CardinalityExceeded))


def test_a_kind_names_its_default_code_and_a_raise_may_name_its_own() -> None:
    assert (Invalid("x").code, Conflict("x").code, Unprocessable("x").code) == ("invalid", "conflict", "unprocessable")
    assert Conflict("x", code="rollback_expired").code == "rollback_expired"


def test_field_errors_sum_up_for_clients_and_list_the_fields_for_pages() -> None:
    class ThingError(FieldsInvalid):
        summary = "the thing is not valid"

    error = ThingError({"url": ["not a public address"], "name": ["taken", "too long"]})
    assert (error.code, error.message) == ("invalid", "the thing is not valid")
    assert str(error) == "url: not a public address; name: taken too long"


# --- the answers of every service refusal the API can give ------------------------------------------


def post_deploy(api, **body):
    return api.post("/api/v1/deploys", {"service": "svc", "environment": "production", **body}, format="json")


def post_samples(api, **body):
    envelope = {"service": "svc", "environment": "production", "prediction": [0.1, 0.9]}
    body.setdefault("columns", {"amount": [1.0, 2.0]})
    return api.post("/api/v1/predictions", json.dumps({**envelope, **body}), content_type="application/json")


# Each refusal: make the service refuse through the API; return the answer and what it must be, byte for byte.
def external_id_of_another_stream(api, project):
    first = post_deploy(api, version="1", external_id="run-1").json()["id"]
    fields = {"external_id": [f"already used by deploy {first}"]}
    message = "this external_id belongs to a deploy of another service or environment"
    answer = post_deploy(api, version="1", external_id="run-1", environment="dev")
    return answer, (409, "external_id_conflict", message, fields)


def status_moving_backwards(api, project):
    post_deploy(api, version="1", external_id="run-1", status="succeeded")
    message, fields = "a deploy cannot move from succeeded to in_progress", {"status": ["current status is succeeded"]}
    answer = post_deploy(api, version="1", external_id="run-1", status="in_progress")
    return answer, (409, "invalid_transition", message, fields)


def samples_of_an_unknown_stream(api, project):
    message = "post a deploy of this service and environment before its samples"
    return post_samples(api), (422, "unknown_stream", message, {"service": ["no deploy has named this yet"]})


def samples_naming_an_unknown_deploy(api, project):
    post_deploy(api, version="1")
    fields = {"deploy": ["no deploy of this service and environment has this id or version"]}
    message = "no such deploy of this service and environment"
    return post_samples(api, deploy="9.9"), (422, "unknown_deploy", message, fields)


def samples_older_than_the_first_deploy(api, project):
    post_deploy(api, version="1")
    early = (timezone.now() - timedelta(hours=2)).isoformat()
    message = "2 rows are older than the first deploy of this service and environment"
    fields = {"timestamp": {"0": ["no deploy was live at this time"], "1": ["no deploy was live at this time"]}}
    return post_samples(api, timestamp=[early, early]), (422, "no_live_deploy", message, fields)


def a_value_of_another_kind_than_its_column(api, project):
    post_deploy(api, version="1", finished_at=datetime(2026, 1, 1, tzinfo=UTC).isoformat())
    assert post_samples(api).status_code == 202
    fields = {"columns.amount": ["this column is numeric, not categorical"]}
    message = "some values are not of their column's kind"
    return post_samples(api, columns={"amount": ["a", "b"]}), (422, "wrong_kind", message, fields)


def a_channel_without_its_url(api, project):
    answer = api.post("/api/v1/channels", {"name": "hook", "kind": "webhook"}, format="json")
    return answer, (400, "invalid", "the channel settings are not valid", {"url": ["this channel needs a URL"]})


def a_rule_with_a_taken_key(api, project):
    rule = project.alert_rules.exclude(kind="column_drift").first()
    answer = api.post("/api/v1/alert-rules", {"key": rule.key, "kind": rule.kind}, format="json")
    return answer, (400, "invalid", "the rule is not valid", {"key": ["a rule with this key exists"]})


def resolving_a_resolved_alert(api, project):
    deploy = Deploy.objects.get(pk=post_deploy(api, version="1").json()["id"])
    columns = tuple(ColumnFact(f"f{i}", "feature", "drifted", 2.0) for i in range(3))
    [alert] = alerts_evaluate_deploy(deploy=deploy, facts=DeployFacts(columns, has_drift_report=True))
    assert api.post(f"/api/v1/alerts/{alert.pk}/resolve").status_code == 200
    return api.post(f"/api/v1/alerts/{alert.pk}/resolve"), (409, "alert_resolved", "the alert is already resolved", {})


def a_rollback_endpoint_at_an_internal_address(api, project):
    url = "https://10.1.2.3/rollback"
    with pytest.raises(outbound.TransportError) as refused:
        outbound.check_url(url, policy=outbound.OutboundPolicy())
    answer = api.put("/api/v1/rollback-endpoint", {"url": url, "format": "github"}, format="json")
    return answer, (400, "invalid", "the rollback endpoint URL is not allowed", {"url": [refused.value.message]})


def a_gitlab_rollback_endpoint_without_its_trigger_token(api, project):
    body = {"url": "https://93.184.215.14/api/v4/projects/1/trigger/pipeline", "format": "gitlab"}
    message, fields = "a GitLab pipeline trigger needs its trigger token", {"token": ["required for the gitlab format"]}
    return api.put("/api/v1/rollback-endpoint", body, format="json"), (400, "invalid", message, fields)


def a_rollback_without_an_endpoint(api, project):
    answer = api.post(f"/api/v1/deploys/{history(project).v3.pk}/rollback", {}, format="json")
    return answer, (409, "rollback_endpoint_missing", "Configure the project's rollback endpoint first.", {})


def post_points(api, points, **body):
    return api.post("/api/v1/metrics", json.dumps({"points": points, **body}), content_type="application/json")


def a_point_without_a_value(api, project):
    answer = post_points(api, [{"service": "svc", "environment": "production", "name": "m"}])
    return answer, (400, "invalid", "1 of 1 points are not valid", {"points": {"0": {"value": ["must be a number"]}}})


def points_of_an_unknown_service(api, project):
    ingest_only = client_for(token_issue(project=project, name="ingest", scopes=["ingest"])[1])
    answer = post_points(ingest_only, [{"service": "nope", "environment": "production", "name": "m", "value": 1}])
    return answer, (
        400,
        "invalid",
        "1 points name an unknown service",
        {"points": {"0": {"service": ["unknown service 'nope': register it with a deploy event first"]}}},
    )


def a_batch_id_too_long(api, project):
    point = {"service": "svc", "environment": "production", "name": "m", "value": 1}
    return post_points(api, [point], batch_id="x" * 300), (
        400,
        "invalid",
        "batch_id is not valid",
        {"batch_id": ["a string of 1-200 characters"]},
    )


def an_idempotency_key_too_long(api, project):
    point = {"service": "svc", "environment": "production", "name": "m", "value": 1}
    answer = api.post(
        "/api/v1/metrics",
        json.dumps({"points": [point]}),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k" * 300,
    )
    return answer, (400, "invalid", "batch_id is not valid", {"batch_id": ["1-200 characters"]})


@override_settings(METRIC_MAX_NAMES_PER_SERVICE=1)
def points_past_the_name_cap(api, project):
    post_deploy(api, version="1", finished_at=(timezone.now() - timedelta(hours=1)).isoformat())
    point = {"service": "svc", "environment": "production", "value": 1}
    return post_points(api, [point | {"name": "a"}, point | {"name": "b"}]), (
        422,
        "cardinality_limit",
        "service 'svc' has 0 metric names: 2 new ones would pass the limit of 1 names per service"
        " (METRIC_MAX_NAMES_PER_SERVICE)",
        {"points": {str(i): {"name": ["a new metric name beyond the limit of 1 per service"]} for i in (0, 1)}},
    )


def samples_with_nan(api, project):
    body = b'{"service": "svc", "environment": "production", "prediction": [NaN]}'
    return api.post("/api/v1/predictions", body, content_type="application/json"), (
        400,
        "invalid",
        "NaN is not allowed: send null for a missing value",
        {"non_field_errors": ["NaN"]},
    )


def samples_of_ragged_columns(api, project):
    return post_samples(api, columns={"amount": [1.0]}), (
        400,
        "invalid",
        "columns have different lengths",
        {"columns.amount": ["has 1 values, prediction has 2"]},
    )


def too_many_samples(api, project):
    return post_samples(api, prediction=[0.5] * 10_001, columns={}), (
        413,
        "invalid",
        "a batch holds at most 10000 rows",
        {"prediction": ["at most 10000 rows"]},
    )


def samples_with_a_column_of_mixed_kinds(api, project):
    return post_samples(api, columns={"amount": [1.0, {"a": 1}]}), (
        422,
        "invalid",
        "some columns are not valid",
        {
            "columns.amount": [
                "values of one column must share one kind: numbers, strings or true/false (null if missing)"
            ]
        },
    )


def a_test_notification_of_a_disabled_channel(api, project):
    channel = api.post(
        "/api/v1/channels", {"name": "hook", "kind": "webhook", "url": "https://93.184.215.14/h"}, format="json"
    )
    channel_id = channel.json()["id"]
    api.patch(f"/api/v1/channels/{channel_id}", {"enabled": False}, format="json")
    return api.post(f"/api/v1/channels/{channel_id}/test"), (
        409,
        "channel_disabled",
        "enable the channel before testing it",
        {},
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "refusal",
    [
        external_id_of_another_stream,
        status_moving_backwards,
        samples_of_an_unknown_stream,
        samples_naming_an_unknown_deploy,
        samples_older_than_the_first_deploy,
        a_value_of_another_kind_than_its_column,
        a_channel_without_its_url,
        a_rule_with_a_taken_key,
        resolving_a_resolved_alert,
        a_rollback_endpoint_at_an_internal_address,
        a_gitlab_rollback_endpoint_without_its_trigger_token,
        a_rollback_without_an_endpoint,
        a_point_without_a_value,
        points_of_an_unknown_service,
        a_batch_id_too_long,
        an_idempotency_key_too_long,
        points_past_the_name_cap,
        samples_with_nan,
        samples_of_ragged_columns,
        too_many_samples,
        samples_with_a_column_of_mixed_kinds,
        a_test_notification_of_a_disabled_channel,
    ],
)
def test_a_service_refusal_keeps_its_exact_api_answer(api, project, refusal) -> None:
    answer, expected = refusal(api, project)
    exact(answer, *expected)


@pytest.mark.django_db
def test_the_rollback_page_answers_a_refusal_with_its_status_and_message(client, bob, project) -> None:
    world = history(project)
    client.force_login(bob)
    response = client.post(f"/{project.slug}/deploys/{world.v3.pk}/rollback/", {"target": world.v2.pk})
    assert response.status_code == 409
    assert "Configure the project&#x27;s rollback endpoint first." in response.content.decode()
