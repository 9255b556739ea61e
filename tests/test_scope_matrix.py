"""Every API operation × every token scope: 403 `insufficient_scope` where the scope is not allowed, a pass where it is.

Each app adds its operations (by OpenAPI operationId) to SCOPES below; the operations are read from the
served schema, so an operation no entry covers fails `test_every_operation_is_in_the_matrix` (and a path
parameter PARAMS cannot fill fails too), so a new endpoint cannot slip past with the wrong scope.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import ALL_SCOPES
from tests.helpers import client_for
from tracker.models import Scope

# operationId -> the scopes of which a token needs one (empty: no token, the provider's signature instead).
SCOPES: dict[str, tuple[str, ...]] = {
    "alert_list_get": ("read",),
    "alert_ack_post": ("rollback",),
    "alert_resolve_post": ("rollback",),
    "silence_collection_get": ("rollback", "admin"),
    "silence_collection_post": ("rollback", "admin"),
    "silence_expire_delete": ("rollback", "admin"),
    "channel_collection_get": ("admin",),
    "channel_collection_post": ("admin",),
    "channel_detail_get": ("admin",),
    "channel_detail_patch": ("admin",),
    "channel_detail_delete": ("admin",),
    "channel_test_post": ("admin",),
    "status_writeback_get": ("admin",),
    "status_writeback_put": ("admin",),
    "rule_collection_get": ("read",),
    "rule_collection_post": ("admin",),
    "rule_detail_patch": ("admin",),
    "rule_detail_delete": ("admin",),
    "deploy_collection_get": ("read",),
    "deploy_collection_post": ("ingest",),
    "deploy_detail_get": ("read",),
    "deploy_drift_get": ("read",),
    "deploy_impact_get": ("read",),
    "deploy_shadow_get": ("read",),
    "deploy_verdict_get": ("read",),
    "deploy_checks_get": ("read",),
    "deploy_checks_post": ("ingest",),
    "dora_get": ("read",),
    "metric_setting_list_get": ("read",),
    "metric_source_collection_get": ("admin",),
    "metric_source_collection_post": ("admin",),
    "metric_source_detail_get": ("admin",),
    "metric_source_detail_patch": ("admin",),
    "metric_source_detail_delete": ("admin",),
    "metric_source_test_post": ("admin",),
    "metric_setting_update_put": ("admin",),
    "metrics_ingest_post": ("ingest",),
    "samples_ingest_post": ("ingest",),
    "rollback_create_post": ("rollback",),
    "rollback_detail_get": ("read", "rollback"),
    "rollback_status_post": ("rollback",),
    "promotion_create_post": ("rollback",),
    "promotion_detail_get": ("read", "rollback"),
    "promotion_status_post": ("rollback",),
    "rollback_endpoint_get": ("admin",),
    "rollback_endpoint_put": ("admin",),
    "github_webhook_post": (),
    "gitlab_webhook_post": (),
    "mlflow_webhook_post": (),
    "hook_settings_get": ("read",),
    "hook_settings_patch": ("admin",),
    "service_settings_get": ("read",),
    "service_settings_patch": ("admin",),
    "verdict_lookup_get": ("read",),
}
# Path parameters: the permission is checked before any lookup, so these need not exist.
PARAMS = {
    "deploy_id": "1",
    "alert_id": "1",
    "channel_id": "1",
    "source_id": "1",
    "provider": "github",
    "rule_id": "1",
    "silence_id": "1",
    "rollback_id": "00000000-0000-4000-8000-000000000000",
    "promotion_id": "00000000-0000-4000-8000-000000000000",
    "service_name": "svc",
    "name": "latency_ms",
    "project_slug": "alpha",
}


def operations(client) -> list[tuple[str, str, str]]:
    """(operationId, method, path with its parameters filled) of every operation of the served schema."""
    schema = yaml.safe_load(client.get("/api/schema/").content)
    found = [
        (op["operationId"], method.upper(), re.sub(r"{(\w+)}", lambda m: PARAMS.get(m[1], m[0]), path))
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
    ]
    unfilled = [(op, path) for op, _, path in found if "{" in path]
    assert not unfilled, f"add these path parameters to PARAMS: {unfilled}"
    return found


def call(client, method: str, path: str):
    return client.generic(method, path, "{}", content_type="application/json")


def refused_for_scope(response) -> bool:
    return response.status_code == 403 and response.json()["error"]["code"] == "insufficient_scope"


def test_the_matrix_knows_every_scope_a_token_can_have() -> None:
    assert sorted(ALL_SCOPES) == sorted(Scope.values)
    assert {scope for needed in SCOPES.values() for scope in needed} <= set(Scope.values)


@pytest.mark.django_db
def test_every_operation_is_in_the_matrix(client) -> None:
    served = [op for op, _, _ in operations(client)]
    # The served schema, not a list kept by hand: dozens of operations, each with its own id.
    assert len(served) >= 30 and len(served) == len(set(served))
    assert sorted(served) == sorted(SCOPES), (
        f"missing from SCOPES: {sorted(set(served) - set(SCOPES))}; not served: {sorted(set(SCOPES) - set(served))}"
    )


@pytest.mark.django_db
@pytest.mark.parametrize("scope", ALL_SCOPES)
def test_a_token_with_one_scope_is_refused_exactly_where_the_scope_is_not_allowed(
    client, project, make_token, scope
) -> None:
    """Every operation × this one scope: 403 `insufficient_scope` where SCOPES does not list it, anything but
    401 or 403 where it does (and never `insufficient_scope` for the provider webhooks, which take no token)."""
    single = client_for(make_token(project, [scope]))
    wrong = []
    for operation, method, path in operations(client):
        needed = SCOPES[operation]
        answer = call(single, method, path)
        if not needed:
            ok = not refused_for_scope(answer)
        elif scope in needed:
            ok = answer.status_code not in (401, 403)
        else:
            ok = refused_for_scope(answer)
        if not ok:
            wrong.append((operation, method, path, answer.status_code, answer.content[:200]))
    assert not wrong, wrong


@pytest.mark.django_db
def test_a_token_without_the_scope_is_refused_and_one_with_only_it_passes(client, project, make_token) -> None:
    for operation, method, path in operations(client):
        needed = SCOPES[operation]
        if not needed:
            continue
        without = client_for(make_token(project, [s for s in ALL_SCOPES if s not in needed]))
        refused = call(without, method, path)
        assert refused.status_code == 403, (operation, refused.content)
        assert refused.json()["error"]["code"] == "insufficient_scope", operation
        for scope in needed:
            passed = call(client_for(make_token(project, [scope])), method, path)
            assert passed.status_code not in (401, 403), (operation, scope, passed.content)


@pytest.mark.django_db
def test_an_operation_without_a_token_is_unauthenticated_unless_a_provider_signs_it(client) -> None:
    for operation, method, path in operations(client):
        answer = call(client, method, path)
        assert answer.status_code == 401, (operation, answer.status_code)
        expected = "signature_invalid" if not SCOPES[operation] else "unauthenticated"
        assert answer.json()["error"]["code"] in (expected, "invalid_token", "signature_required"), operation
