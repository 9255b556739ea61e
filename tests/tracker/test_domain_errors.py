"""Services refuse with domain errors (tracker.errors); the API answers them in one shape, byte for byte.

The expected answers below were recorded from the API as it answered when services still raised HTTP
errors themselves: moving the mapping into the exception handler must not change a single byte.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from alerts.rules import ColumnFact, DeployFacts
from alerts.services import alerts_evaluate_deploy
from deployments.models import Deploy
from tests.rollbacks.rollback_world import history
from tracker import outbound
from tracker.api_errors import domain_status, exception_handler
from tracker.errors import Conflict, DomainError, FieldsInvalid, Invalid, Unprocessable


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
    ],
)
def test_each_kind_of_domain_error_has_one_status_and_the_error_shape(error: DomainError, status: int) -> None:
    response = exception_handler(error, {})
    assert (response.status_code, domain_status(error)) == (status, status)
    assert response.data == {"error": {"code": error.code, "message": error.message, "fields": error.fields}}


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


@pytest.mark.django_db
def test_an_external_id_of_another_stream_is_a_conflict(api) -> None:
    first = post_deploy(api, version="1", external_id="run-1")
    response = post_deploy(api, version="1", external_id="run-1", environment="staging")
    exact(
        response,
        409,
        "external_id_conflict",
        "this external_id belongs to a deploy of another service or environment",
        {"external_id": [f"already used by deploy {first.json()['id']}"]},
    )


@pytest.mark.django_db
def test_a_status_moving_backwards_is_a_conflict(api) -> None:
    post_deploy(api, version="1", external_id="run-1", status="succeeded")
    response = post_deploy(api, version="1", external_id="run-1", status="in_progress")
    exact(
        response,
        409,
        "invalid_transition",
        "a deploy cannot move from succeeded to in_progress",
        {"status": ["current status is succeeded"]},
    )


def post_samples(api, **body):
    envelope = {"service": "svc", "environment": "production", "prediction": [0.1, 0.9]}
    body.setdefault("columns", {"amount": [1.0, 2.0]})
    return api.post("/api/v1/predictions", json.dumps({**envelope, **body}), content_type="application/json")


@pytest.mark.django_db
def test_samples_of_an_unknown_stream_are_unprocessable(api) -> None:
    exact(
        post_samples(api),
        422,
        "unknown_stream",
        "post a deploy of this service and environment before its samples",
        {"service": ["no deploy has named this yet"]},
    )


@pytest.mark.django_db
def test_samples_naming_an_unknown_deploy_are_unprocessable(api) -> None:
    post_deploy(api, version="1")
    exact(
        post_samples(api, deploy="9.9"),
        422,
        "unknown_deploy",
        "no such deploy of this service and environment",
        {"deploy": ["no deploy of this service and environment has this id or version"]},
    )


@pytest.mark.django_db
def test_samples_older_than_the_first_deploy_are_unprocessable(api) -> None:
    post_deploy(api, version="1")
    early = (timezone.now() - timedelta(hours=2)).isoformat()
    exact(
        post_samples(api, timestamp=[early, early]),
        422,
        "no_live_deploy",
        "2 rows are older than the first deploy of this service and environment",
        {"timestamp": {"0": ["no deploy was live at this time"], "1": ["no deploy was live at this time"]}},
    )


@pytest.mark.django_db
def test_a_value_of_another_kind_than_its_column_is_unprocessable(api) -> None:
    post_deploy(api, version="1", finished_at=datetime(2026, 1, 1, tzinfo=UTC).isoformat())
    assert post_samples(api).status_code == 202
    exact(
        post_samples(api, columns={"amount": ["a", "b"]}),
        422,
        "wrong_kind",
        "some values are not of their column's kind",
        {"columns.amount": ["this column is numeric, not categorical"]},
    )


@pytest.mark.django_db
def test_a_channel_without_its_url_is_invalid(api) -> None:
    response = api.post("/api/v1/channels", {"name": "hook", "kind": "webhook"}, format="json")
    exact(response, 400, "invalid", "the channel settings are not valid", {"url": ["this channel needs a URL"]})


@pytest.mark.django_db
def test_a_rule_with_a_taken_key_is_invalid(api, project) -> None:
    rule = project.alert_rules.exclude(kind="column_drift").first()
    response = api.post("/api/v1/alert-rules", {"key": rule.key, "kind": rule.kind}, format="json")
    exact(response, 400, "invalid", "the rule is not valid", {"key": ["a rule with this key exists"]})


@pytest.mark.django_db
def test_resolving_a_resolved_alert_is_a_conflict(api, project) -> None:
    deploy_id = post_deploy(api, version="1").json()["id"]
    columns = tuple(ColumnFact(f"f{i}", "feature", "drifted", 2.0) for i in range(3))
    facts = DeployFacts(columns, has_drift_report=True)
    [alert] = alerts_evaluate_deploy(deploy=Deploy.objects.get(pk=deploy_id), facts=facts)
    assert api.post(f"/api/v1/alerts/{alert.pk}/resolve").status_code == 200
    exact(api.post(f"/api/v1/alerts/{alert.pk}/resolve"), 409, "alert_resolved", "the alert is already resolved")


@pytest.mark.django_db
def test_a_rollback_endpoint_at_an_internal_address_is_invalid(api, settings) -> None:
    url = "https://10.1.2.3/rollback"
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    with pytest.raises(outbound.TransportError) as refused:
        outbound.check_url(url, policy=outbound.OutboundPolicy.from_settings(settings))
    response = api.put("/api/v1/rollback-endpoint", {"url": url, "format": "github"}, format="json")
    exact(response, 400, "invalid", "the rollback endpoint URL is not allowed", {"url": [refused.value.message]})


@pytest.mark.django_db
def test_a_gitlab_rollback_endpoint_without_its_trigger_token_is_invalid(api) -> None:
    body = {"url": "https://93.184.215.14/api/v4/projects/1/trigger/pipeline", "format": "gitlab"}
    exact(
        api.put("/api/v1/rollback-endpoint", body, format="json"),
        400,
        "invalid",
        "a GitLab pipeline trigger needs its trigger token",
        {"token": ["required for the gitlab format"]},
    )


@pytest.mark.django_db
def test_a_rollback_without_an_endpoint_is_a_conflict(api, project) -> None:
    world = history(project)
    exact(
        api.post(f"/api/v1/deploys/{world.v3.pk}/rollback", {}, format="json"),
        409,
        "rollback_endpoint_missing",
        "Configure the project's rollback endpoint first.",
    )


@pytest.mark.django_db
def test_the_rollback_page_answers_a_refusal_with_its_status_and_message(client, bob, project) -> None:
    world = history(project)
    client.force_login(bob)
    response = client.post(f"/{project.slug}/deploys/{world.v3.pk}/rollback/", {"target": world.v2.pk})
    assert response.status_code == 409
    assert "Configure the project&#x27;s rollback endpoint first." in response.content.decode()
