"""The suite's schema check (tests/openapi_responses.py) catches an answer the schema does not describe."""

from __future__ import annotations

import json

import pytest

from tests import openapi_responses

pytestmark = pytest.mark.django_db

EVENT = {"service": "fraud-scorer", "environment": "production", "version": "1.0"}


def test_a_real_answer_passes_and_the_same_answer_with_a_wrong_type_is_a_mismatch(api, project):
    response = api.post("/api/v1/deploys", EVENT, format="json")
    assert response.status_code == 201 and openapi_responses._mismatches == []
    response.content = json.dumps({**response.json(), "id": "not-an-integer"}).encode()
    openapi_responses.check(response)
    found, openapi_responses._mismatches[:] = list(openapi_responses._mismatches), []
    assert len(found) == 1 and "POST /api/v1/deploys → 201" in found[0] and "not-an-integer" in found[0]


def test_a_status_the_operation_does_not_document_is_a_mismatch(api, project):
    response = api.get("/api/v1/deploys")
    response.status_code = 418
    openapi_responses.check(response)
    found, openapi_responses._mismatches[:] = list(openapi_responses._mismatches), []
    assert len(found) == 1 and "GET /api/v1/deploys → 418" in found[0]


def test_a_baseline_of_null_and_of_a_deploy_both_validate(api, project):
    first = api.post("/api/v1/deploys", EVENT, format="json").json()
    second = api.post("/api/v1/deploys", {**EVENT, "version": "1.1"}, format="json").json()
    assert first["baseline"] is None and second["baseline"]["id"] == first["id"]
    assert openapi_responses._mismatches == []


# --- what the schema says beyond the answers -----------------------------------------------------------------


@pytest.fixture
def served(client):
    return json.loads(client.get("/api/schema/", {"format": "json"}, HTTP_ACCEPT="application/json").content)


def _headers(operation: dict) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}


def test_the_provider_webhooks_declare_their_providers_headers(served):
    paths = served["paths"]
    assert {"X-Hub-Signature-256", "X-GitHub-Event", "X-GitHub-Delivery"} <= _headers(
        paths["/api/v1/webhooks/github/{project_slug}"]["post"]
    )
    assert {"X-Gitlab-Token", "X-Gitlab-Event-UUID", "Idempotency-Key"} <= _headers(
        paths["/api/v1/webhooks/gitlab/{project_slug}"]["post"]
    )
    assert {"X-MLflow-Signature", "X-MLflow-Delivery-Id", "X-MLflow-Timestamp"} <= _headers(
        paths["/api/v1/webhooks/mlflow/{project_slug}"]["post"]
    )


@pytest.mark.parametrize("path", ["/api/v1/deploys", "/api/v1/metrics", "/api/v1/predictions"])
def test_the_signed_ingest_operations_declare_the_standard_webhooks_headers(served, path):
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= _headers(served["paths"][path]["post"])


def test_no_description_points_readers_at_the_source_code(served):
    texts = []

    def walk(node):
        if isinstance(node, dict):
            texts.extend(v for k, v in node.items() if k in ("description", "summary") and isinstance(v, str))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(served)
    leaks = [text for text in texts if ".py" in text or "see tracker" in text.lower()]
    assert texts and not leaks, leaks


def test_changes_impact_and_drift_are_typed(served):
    schemas = served["components"]["schemas"]
    assert schemas["DeployOutput"]["properties"]["changes"]["required"][0] == "has_baseline"
    detail = schemas["DeployDetailOutput"]["properties"]
    assert "ImpactSummary" in json.dumps(detail["impact"]) and "DriftSummary" in json.dumps(detail["drift"])
    assert {"verdict", "score", "final"} <= set(schemas["ImpactSummary"]["required"])
    assert {"drift_share", "dataset_drift", "n_drifted"} <= set(schemas["DriftSummary"]["required"])


def _webhook_body_validator(served, name):
    from openapi_schema_validator import OAS31Validator

    schema = served["webhooks"][name]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"webhook-id", "webhook-signature"} <= _headers(served["webhooks"][name]["post"])
    return OAS31Validator(schema)


def test_the_documented_rollback_request_is_what_the_rollback_endpoint_receives(served):
    from rollbacks.payloads import generic_body
    from tests.rollbacks.test_rollback_payloads import message

    validator = _webhook_body_validator(served, "rollback.requested")
    body = generic_body(message())
    validator.validate(body)
    assert not validator.is_valid({**body, "current": {**body["current"], "id": "412"}})


def test_the_documented_alert_notification_is_what_a_webhook_channel_receives(served):
    from alerts import payloads
    from tests.alerts.test_payloads import alert_info, message

    validator = _webhook_body_validator(served, "alert")
    for body in (
        payloads.webhook_body(message(alert_info())),
        payloads.webhook_body(message(action="resolve", reason="resolved", resolved=(alert_info(),))),
    ):
        validator.validate(body)
    assert not validator.is_valid({**payloads.webhook_body(message(alert_info())), "type": "alert.sideways"})


def test_options_head_and_a_refused_missing_method_pass_but_an_undocumented_success_does_not(api, project):
    assert api.options("/api/v1/deploys").status_code == 200
    assert api.head("/api/v1/deploys").status_code == 200
    assert api.put("/api/v1/deploys", {}, format="json").status_code in (403, 405)
    assert openapi_responses._mismatches == []
    response = api.put("/api/v1/deploys", {}, format="json")
    response.status_code, response.content = 200, b"{}"
    openapi_responses.check(response)
    found, openapi_responses._mismatches[:] = list(openapi_responses._mismatches), []
    assert len(found) == 1 and "PUT /api/v1/deploys → 200" in found[0]
