"""Every API operation needs its scope: a token without it gets 403 `insufficient_scope`, one with only it passes.

Each app adds its operations (by OpenAPI operationId) to SCOPES below; an operation no entry covers fails
`test_every_operation_is_in_the_matrix`, so a new endpoint cannot slip past with the wrong scope.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import ALL_SCOPES
from tests.helpers import client_for

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
    "deploy_verdict_get": ("read",),
    "dora_get": ("read",),
    "metric_setting_list_get": ("read",),
    "metric_setting_update_put": ("admin",),
    "metrics_ingest_post": ("ingest",),
    "samples_ingest_post": ("ingest",),
    "rollback_create_post": ("rollback",),
    "rollback_detail_get": ("read", "rollback"),
    "rollback_status_post": ("rollback",),
    "rollback_endpoint_get": ("admin",),
    "rollback_endpoint_put": ("admin",),
    "github_webhook_post": (),
    "gitlab_webhook_post": (),
    "mlflow_webhook_post": (),
}
# Path parameters: the permission is checked before any lookup, so these need not exist.
PARAMS = {
    "deploy_id": "1",
    "alert_id": "1",
    "channel_id": "1",
    "provider": "github",
    "rule_id": "1",
    "silence_id": "1",
    "rollback_id": "00000000-0000-4000-8000-000000000000",
    "service_name": "svc",
    "name": "latency_ms",
}


def operations(client) -> list[tuple[str, str, str]]:
    schema = yaml.safe_load(client.get("/api/schema/").content)
    return [
        (op["operationId"], method.upper(), re.sub(r"{(\w+)}", lambda m: PARAMS.get(m[1], m[0]), path))
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
    ]


def call(client, method: str, path: str):
    return client.generic(method, path, "{}", content_type="application/json")


@pytest.mark.django_db
def test_every_operation_is_in_the_matrix(client) -> None:
    assert sorted(op for op, _, _ in operations(client)) == sorted(SCOPES)


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
