"""POST /api/v1/deploys/{id}/rollback, GET /api/v1/rollbacks/{id}, GET/PUT /api/v1/rollback-endpoint."""

from __future__ import annotations

import base64

import pytest

from rollbacks.models import RollbackEndpoint, RollbackRequest
from tests.helpers import client_for, error_code
from tests.rollbacks.rollback_world import deploy, endpoint, history
from tracker import crypto
from tracker.models import AuditLog

pytestmark = pytest.mark.django_db


def request_rollback(api, deploy_id, **body):
    return api.post(f"/api/v1/deploys/{deploy_id}/rollback", body, format="json")


def test_it_requests_a_rollback_to_the_last_healthy_deploy(api, project):
    world, _ = history(project), endpoint(project)
    response = request_rollback(api, world.v3.pk, reason="p99 doubled")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "requested"
    assert (body["deploy"]["version"], body["target"]["version"]) == ("3.0", "2.0")
    assert body["reason"] == "p99 doubled" and body["requested_by"] == "token test"
    rollback = RollbackRequest.objects.get()
    assert rollback.dispatch_due_at is not None and rollback.expires_at > rollback.requested_at
    assert AuditLog.objects.filter(action="rollback.requested", target_id=str(rollback.pk)).exists()
    assert world.v3.events.filter(kind="rollback.requested").exists()


def test_it_rolls_back_to_an_explicitly_chosen_earlier_deploy(api, project):
    world, _ = history(project), endpoint(project)
    response = request_rollback(api, world.v3.pk, target_id=world.v1.pk)
    assert response.status_code == 201 and response.json()["target"]["id"] == world.v1.pk


def test_it_refuses_a_second_request_while_one_is_open_with_a_clear_message(api, project):
    world, _ = history(project), endpoint(project)
    assert request_rollback(api, world.v3.pk).status_code == 201
    response = request_rollback(api, world.v3.pk, target_id=world.v1.pk)
    assert response.status_code == 409 and error_code(response) == "rollback_already_open"
    assert "already open" in response.json()["error"]["message"]
    assert RollbackRequest.objects.count() == 1


def test_it_refuses_the_current_deploy_as_its_own_target(api, project):
    world, _ = history(project), endpoint(project)
    response = request_rollback(api, world.v3.pk, target_id=world.v3.pk)
    assert response.status_code == 409 and error_code(response) == "target_is_current"
    assert not RollbackRequest.objects.exists()


def test_it_refuses_a_target_of_the_same_release_as_the_current_deploy(api, project):
    world, _ = history(project), endpoint(project)
    again = deploy(project, "3.0", 1, commit_sha=world.v3.commit_sha, external_id="again")
    response = request_rollback(api, again.pk, target_id=world.v3.pk)
    assert response.status_code == 409 and error_code(response) == "target_is_current"


@pytest.mark.parametrize(
    ("body", "field"),
    [({"target_id": "x"}, "target_id"), ({"reason": "r" * 1001}, "reason"), ({"target": 1}, "target")],
)
def test_it_rejects_a_malformed_body_and_stores_nothing(api, project, body, field):
    world, _ = history(project), endpoint(project)
    response = request_rollback(api, world.v3.pk, **body)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert not RollbackRequest.objects.exists()


def test_it_refuses_a_later_or_unknown_or_foreign_target(api, project, other_project):
    world, _ = history(project), endpoint(project)
    foreign = deploy(other_project, "0.1", 40)
    for target in (world.v3.pk + 1000, foreign.pk):
        response = request_rollback(api, world.v2.pk, target_id=target)
        assert response.status_code == 400 and "target_id" in response.json()["error"]["fields"]
    response = request_rollback(api, world.v2.pk, target_id=world.v3.pk)
    assert response.status_code == 400 and error_code(response) == "target_not_earlier"


def test_it_needs_a_configured_endpoint(api, project):
    world = history(project)
    response = request_rollback(api, world.v3.pk)
    assert response.status_code == 409 and error_code(response) == "rollback_endpoint_missing"


def test_it_asks_for_a_target_when_no_earlier_deploy_was_healthy(api, project):
    endpoint(project)
    deploy(project, "1.0", 30, "degraded")
    current = deploy(project, "2.0", 2, "degraded")
    response = request_rollback(api, current.pk)
    assert response.status_code == 409 and error_code(response) == "no_default_target"


def test_it_needs_the_rollback_scope(project, make_token):
    world, _ = history(project), endpoint(project)
    response = request_rollback(client_for(make_token(project, ["read", "ingest"])), world.v3.pk)
    assert response.status_code == 403 and error_code(response) == "insufficient_scope"


def test_another_projects_token_cannot_roll_back_or_read(api, other_api, project):
    world, _ = history(project), endpoint(project)
    assert error_code(request_rollback(other_api, world.v3.pk)) == "not_found"
    rollback_id = request_rollback(api, world.v3.pk).json()["id"]
    response = other_api.get(f"/api/v1/rollbacks/{rollback_id}")
    assert response.status_code == 404 and error_code(response) == "not_found"


def test_it_shows_a_request_with_its_state_target_attempts_and_callbacks(api, project):
    world, _ = history(project), endpoint(project)
    rollback_id = request_rollback(api, world.v3.pk).json()["id"]
    rollback = RollbackRequest.objects.get(pk=rollback_id)
    rollback.attempts.create(number=1, url="https://ci.example.com/x", status_code=503, error="HTTP 503")
    rollback.callbacks.create(status="accepted", outcome="applied", message="queued")
    body = api.get(f"/api/v1/rollbacks/{rollback_id}").json()
    assert body["target"]["version"] == "2.0" and body["target"]["model"]["version"] == "0"
    assert body["attempts"][0]["status_code"] == 503 and body["callbacks"][0]["status"] == "accepted"
    assert body["page_url"].endswith(f"/alpha/deploys/{world.v3.pk}/#rollback")


def test_an_unknown_rollback_id_is_a_404(api, project):
    response = api.get("/api/v1/rollbacks/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 404 and error_code(response) == "not_found"


def test_it_sets_the_endpoint_and_shows_a_generated_secret_once(api, project):
    response = api.put(
        "/api/v1/rollback-endpoint", {"url": "https://93.184.215.14/hook", "format": "generic"}, format="json"
    )
    assert response.status_code == 200, response.content
    secret = response.json()["secret"]
    assert secret.startswith("whsec_")
    stored = RollbackEndpoint.objects.get(project=project)
    assert crypto.decrypt(stored.secret_encrypted) == secret and secret not in stored.secret_encrypted
    shown = api.get("/api/v1/rollback-endpoint").json()
    assert "secret" not in shown and shown["format"] == "generic" and shown["has_token"] is False
    again = api.put(
        "/api/v1/rollback-endpoint", {"url": "https://93.184.215.14/other", "format": "generic"}, format="json"
    )
    assert "secret" not in again.json(), "an existing secret is kept and never shown again"
    assert AuditLog.objects.filter(action="rollback_endpoint.updated").count() == 2


def test_it_refuses_an_endpoint_that_fails_the_ssrf_guard(api, project, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    for url in ("https://10.0.0.5/hook", "https://127.0.0.1/hook", "ftp://93.184.215.14/x"):
        response = api.put("/api/v1/rollback-endpoint", {"url": url, "format": "generic"}, format="json")
        assert response.status_code == 400 and "url" in response.json()["error"]["fields"], url
    assert not RollbackEndpoint.objects.exists()


def test_a_gitlab_endpoint_needs_its_trigger_token(api, project):
    body = {"url": "https://93.184.215.14/api/v4/projects/1/trigger/pipeline", "format": "gitlab"}
    response = api.put("/api/v1/rollback-endpoint", body, format="json")
    assert response.status_code == 400 and "token" in response.json()["error"]["fields"]
    response = api.put("/api/v1/rollback-endpoint", {**body, "token": "glptt-x", "ref": "release"}, format="json")
    assert response.status_code == 200 and response.json()["has_token"] is True


def test_the_endpoint_needs_the_admin_scope(project, make_token):
    client = client_for(make_token(project, ["rollback", "read"]))
    assert client.get("/api/v1/rollback-endpoint").status_code == 403
    response = client.put(
        "/api/v1/rollback-endpoint", {"url": "https://93.184.215.14/h", "format": "generic"}, format="json"
    )
    assert response.status_code == 403 and error_code(response) == "insufficient_scope"


def test_a_rollback_token_may_read_the_request_it_made_but_an_ingest_token_may_not(project, make_token):
    world, _ = history(project), endpoint(project)
    rollback_only = client_for(make_token(project, ["rollback"]))
    rollback_id = request_rollback(rollback_only, world.v3.pk).json()["id"]
    assert rollback_only.get(f"/api/v1/rollbacks/{rollback_id}").status_code == 200
    response = client_for(make_token(project, ["ingest"])).get(f"/api/v1/rollbacks/{rollback_id}")
    assert response.status_code == 403 and error_code(response) == "insufficient_scope"


def test_it_keeps_a_given_signing_secret_and_refuses_one_that_is_not_base64(api, project):
    url = "https://93.184.215.14/hook"
    given = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    response = api.put("/api/v1/rollback-endpoint", {"url": url, "format": "generic", "secret": given}, format="json")
    assert response.status_code == 200 and "secret" not in response.json()
    assert crypto.decrypt(RollbackEndpoint.objects.get().secret_encrypted) == given
    bad = api.put(
        "/api/v1/rollback-endpoint",
        {"url": url, "format": "generic", "secret": "whsec_abc=defghijklmnopq"},
        format="json",
    )
    assert bad.status_code == 400 and "secret" in bad.json()["error"]["fields"]
    assert crypto.decrypt(RollbackEndpoint.objects.get().secret_encrypted) == given


def test_a_signing_secret_under_24_bytes_is_refused_and_an_unpadded_one_kept(api, project):
    url = "https://93.184.215.14/hook"
    short = "whsec_" + base64.b64encode(b"k" * 20).decode()
    bad = api.put("/api/v1/rollback-endpoint", {"url": url, "format": "generic", "secret": short}, format="json")
    assert bad.status_code == 400
    assert "at least 24 bytes" in bad.json()["error"]["fields"]["secret"][0]
    assert not RollbackEndpoint.objects.exists()
    unpadded = "whsec_" + base64.b64encode(b"k" * 25).decode().rstrip("=")
    good = api.put("/api/v1/rollback-endpoint", {"url": url, "format": "generic", "secret": unpadded}, format="json")
    assert good.status_code == 200, good.content
    assert crypto.decrypt(RollbackEndpoint.objects.get().secret_encrypted) == unpadded
