"""POST /api/v1/rollbacks/{id}/status: CI's callback. Refused reports change nothing and never 5xx."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rollbacks.models import RollbackRequest
from rollbacks.services import rollback_request_create
from tests.helpers import client_for, error_code
from tests.rollbacks.rollback_world import endpoint, history
from tracker.models import AuditLog

pytestmark = pytest.mark.django_db


@pytest.fixture
def opened(project):
    """An open request and its one-time callback token (read back as CI would from the body)."""
    world, _ = history(project), endpoint(project)
    rollback = rollback_request_create(deploy=world.v3, reason="bad")
    from tracker import crypto

    return rollback, crypto.decrypt(rollback.callback_token_encrypted)


def report(client, rollback_id, status, **extra):
    return client.post(f"/api/v1/rollbacks/{rollback_id}/status", {"status": status, **extra}, format="json")


def state_of(rollback):
    return RollbackRequest.objects.values_list("state", flat=True).get(pk=rollback.pk)


def test_ci_moves_the_request_forward_with_its_callback_token(opened):
    rollback, raw = opened
    ci = client_for(raw)
    for status in ("accepted", "running", "succeeded"):
        response = report(ci, rollback.pk, status, ci_url="https://ci.example.com/runs/9", message=status)
        assert response.status_code == 200, response.content
        assert response.json()["changed"] is True and response.json()["rollback"]["state"] == status
    row = RollbackRequest.objects.get(pk=rollback.pk)
    assert row.finished_at is not None and row.ci_url == "https://ci.example.com/runs/9"
    assert row.callbacks.count() == 3
    assert AuditLog.objects.filter(action="rollback.callback", target_id=str(rollback.pk)).count() == 3


def test_a_rollback_scoped_token_may_report_too(opened, token):
    rollback, _ = opened
    assert report(client_for(token), rollback.pk, "running").json()["rollback"]["state"] == "running"


def test_a_duplicate_report_is_a_no_op(opened):
    rollback, raw = opened
    ci = client_for(raw)
    report(ci, rollback.pk, "running")
    response = report(ci, rollback.pk, "running", message="again")
    assert response.status_code == 200 and response.json()["changed"] is False
    assert RollbackRequest.objects.get(pk=rollback.pk).message == ""
    assert rollback.callbacks.count() == 1


def test_a_backward_report_is_refused_and_changes_nothing(opened):
    rollback, raw = opened
    ci = client_for(raw)
    report(ci, rollback.pk, "running")
    response = report(ci, rollback.pk, "accepted")
    assert response.status_code == 409 and error_code(response) == "backward_transition"
    assert state_of(rollback) == "running" and rollback.callbacks.count() == 1


def test_a_report_after_the_end_is_refused(opened):
    rollback, raw = opened
    ci = client_for(raw)
    report(ci, rollback.pk, "failed")
    response = report(ci, rollback.pk, "succeeded")
    assert response.status_code == 409 and error_code(response) == "rollback_closed"
    assert state_of(rollback) == "failed"


@pytest.mark.parametrize("swept", [True, False])
def test_a_report_after_the_deadline_is_refused(opened, swept):
    rollback, raw = opened
    RollbackRequest.objects.filter(pk=rollback.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    if swept:
        from rollbacks.services import rollbacks_expire

        assert rollbacks_expire() == 1
    response = report(client_for(raw), rollback.pk, "succeeded")
    assert response.status_code == 409 and error_code(response) == "rollback_expired"
    assert state_of(rollback) == ("expired" if swept else "requested")


def test_a_wrong_or_missing_token_is_a_401(opened):
    rollback, _ = opened
    for client in (client_for("rbcb_" + "x" * 43), client_for(None), client_for("dtk_unknown")):
        response = report(client, rollback.pk, "running")
        assert response.status_code == 401, response.content
        assert error_code(response) in {"invalid_token", "unauthenticated"}
    assert state_of(rollback) == "requested"


def test_another_requests_callback_token_is_refused(opened, project):
    rollback, raw = opened
    other = RollbackRequest.objects.create(
        project=project,
        service=rollback.service,
        environment=rollback.environment,
        deploy=rollback.target,
        target=rollback.deploy,
        state="failed",
        requested_by="x",
        callback_token_hash="0" * 64,
        callback_token_encrypted="",
        requested_at=timezone.now(),
        expires_at=timezone.now(),
    )
    response = report(client_for(raw), other.pk, "running")
    assert response.status_code == 401 and error_code(response) == "invalid_token"


def test_another_projects_token_gets_a_404(opened, other_token):
    rollback, _ = opened
    response = report(client_for(other_token), rollback.pk, "running")
    assert response.status_code == 404 and error_code(response) == "not_found"
    assert state_of(rollback) == "requested"


def test_an_unknown_id_is_a_404(opened, token):
    response = report(client_for(token), "7d8b4f1e-0000-4000-8000-000000000000", "running")
    assert response.status_code == 404 and error_code(response) == "not_found"


@pytest.mark.parametrize(
    "body",
    [
        {"status": "requested"},
        {"status": "expired"},
        {"status": "done"},
        {},
        {"status": "running", "extra": 1},
        {"status": "running", "ci_url": "javascript:alert(1)"},
        {"status": "running", "message": "m" * 1001},
        [],
    ],
)
def test_an_invalid_body_is_a_400(opened, body):
    rollback, raw = opened
    response = client_for(raw).post(f"/api/v1/rollbacks/{rollback.pk}/status", body, format="json")
    assert response.status_code == 400 and error_code(response) == "invalid"
    assert state_of(rollback) == "requested"


def test_a_non_json_body_is_a_415_or_400(opened):
    rollback, raw = opened
    ci = client_for(raw)
    as_text = ci.post(f"/api/v1/rollbacks/{rollback.pk}/status", "status=running", content_type="text/plain")
    assert as_text.status_code == 415 and error_code(as_text) == "unsupported_media_type"
    broken = ci.post(f"/api/v1/rollbacks/{rollback.pk}/status", "{not json", content_type="application/json")
    assert broken.status_code == 400 and error_code(broken) == "malformed_body"
    assert state_of(rollback) == "requested"


def test_an_oversize_body_is_a_413(opened):
    rollback, raw = opened
    body = '{"status": "running", "message": "' + "m" * (2 * 1024 * 1024) + '"}'
    response = client_for(raw).post(f"/api/v1/rollbacks/{rollback.pk}/status", body, content_type="application/json")
    assert response.status_code == 413 and error_code(response) == "body_too_large"
    assert state_of(rollback) == "requested"


def test_a_get_on_the_callback_is_a_405_in_the_error_shape(opened):
    rollback, raw = opened
    response = client_for(raw).get(f"/api/v1/rollbacks/{rollback.pk}/status")
    assert response.status_code == 405 and error_code(response) == "method_not_allowed"


def test_a_session_without_a_token_cannot_report(opened, client, bob):
    rollback, _ = opened
    client.force_login(bob)
    url = f"/api/v1/rollbacks/{rollback.pk}/status"
    assert client.post(url, '{"status": "running"}', content_type="application/json").status_code == 401
    assert state_of(rollback) == "requested"
