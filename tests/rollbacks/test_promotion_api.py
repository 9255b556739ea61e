"""POST /api/v1/deploys/{id}/promote, GET /api/v1/promotions/{id}, POST /api/v1/promotions/{id}/status: a release
action beside rollback, through the same outbox, state machine and callback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from rollbacks.models import RollbackRequest
from rollbacks.services import rollbacks_expire
from tests.helpers import client_for, error_code
from tests.rollbacks.rollback_world import canary_pair, deploy, endpoint
from tracker import crypto
from tracker.models import AuditLog

pytestmark = pytest.mark.django_db


def promote(api, deploy_id, **body):
    return api.post(f"/api/v1/deploys/{deploy_id}/promote", body, format="json")


def test_it_requests_the_promotion_of_a_canary_and_answers_its_id(api, project):
    pair, _ = canary_pair(project), endpoint(project)
    response = promote(api, pair.challenger.pk, reason="error rate flat for an hour")
    assert response.status_code == 201, response.content
    body = response.json()
    promotion = RollbackRequest.objects.get()
    assert body["id"] == str(promotion.pk) and promotion.kind == "promotion"
    assert body["state"] == "requested" and body["reason"] == "error rate flat for an hour"
    assert (body["deploy"]["version"], body["baseline"]["version"]) == ("4.1", "4.0")
    assert "target" not in body and body["page_url"].endswith(f"/deploys/{pair.challenger.pk}/#promotion")
    assert promotion.dispatch_due_at is not None and promotion.expires_at > promotion.requested_at
    assert AuditLog.objects.filter(action="promotion.requested", target_id=str(promotion.pk)).exists()
    assert pair.challenger.events.filter(kind="promotion.requested").exists()
    assert api.get(f"/api/v1/promotions/{promotion.pk}").json() == body


def test_the_reason_is_optional(api, project):
    pair, _ = canary_pair(project), endpoint(project)
    response = promote(api, pair.challenger.pk)
    assert response.status_code == 201 and response.json()["reason"] == ""


@pytest.mark.parametrize(
    "fields",
    [{"strategy": "ab", "traffic_percent": 50}, {"strategy": "shadow", "traffic_percent": 0}, {"strategy": "rolling"}],
)
def test_ab_shadow_and_partial_traffic_deploys_can_be_promoted(api, project, fields):
    # A rolling deploy at 10 % of the traffic runs beside its baseline as well.
    pair, _ = canary_pair(project, **fields), endpoint(project)
    assert promote(api, pair.challenger.pk).status_code == 201


@pytest.mark.parametrize("fields", [{"strategy": "rolling", "traffic_percent": 100}, {"strategy": "blue_green"}])
def test_a_deploy_with_all_the_traffic_cannot_be_promoted_and_nothing_is_stored(api, project, fields):
    endpoint(project)
    whole = deploy(project, "5.0", 1, "healthy", traffic_percent=fields.pop("traffic_percent", None), **fields)
    response = promote(api, whole.pk)
    assert response.status_code == 409 and error_code(response) == "not_promotable"
    assert "canary, A/B or shadow" in response.json()["error"]["message"]
    assert not RollbackRequest.objects.exists() and not AuditLog.objects.filter(action="promotion.requested").exists()


def test_a_canary_without_a_baseline_cannot_be_promoted(api, project):
    endpoint(project)
    first = deploy(project, "0.1", 1, strategy="canary", traffic_percent=5)
    response = promote(api, first.pk)
    assert response.status_code == 409 and error_code(response) == "no_baseline"
    assert not RollbackRequest.objects.exists()


def test_a_rolled_back_canary_cannot_be_promoted(api, project):
    pair, _ = canary_pair(project), endpoint(project)
    type(pair.challenger).objects.filter(pk=pair.challenger.pk).update(status="rolled_back")
    response = promote(api, pair.challenger.pk)
    assert response.status_code == 409 and error_code(response) == "not_promotable"


def test_it_needs_the_release_endpoint(api, project):
    pair = canary_pair(project)
    response = promote(api, pair.challenger.pk)
    assert response.status_code == 409 and error_code(response) == "rollback_endpoint_missing"
    assert not RollbackRequest.objects.exists()


def test_one_open_promotion_per_stream_while_a_rollback_may_be_open_beside_it(api, project):
    pair, _ = canary_pair(project), endpoint(project)
    assert promote(api, pair.challenger.pk).status_code == 201
    again = promote(api, pair.challenger.pk)
    assert again.status_code == 409 and error_code(again) == "promotion_already_open"
    assert "already open" in again.json()["error"]["message"]
    rollback = api.post(f"/api/v1/deploys/{pair.challenger.pk}/rollback", {}, format="json")
    assert rollback.status_code == 201, rollback.content
    assert sorted(RollbackRequest.objects.values_list("kind", flat=True)) == ["promotion", "rollback"]


@pytest.mark.parametrize(("body", "field"), [({"reason": "r" * 1001}, "reason"), ({"target_id": 1}, "target_id")])
def test_a_malformed_body_is_a_400_and_stores_nothing(api, project, body, field):
    pair, _ = canary_pair(project), endpoint(project)
    response = promote(api, pair.challenger.pk, **body)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert not RollbackRequest.objects.exists()


def test_it_needs_the_release_actions_scope(project, make_token):
    pair, _ = canary_pair(project), endpoint(project)
    reader = client_for(make_token(project, scopes=["read"]))
    assert promote(reader, pair.challenger.pk).status_code == 403
    assert not RollbackRequest.objects.exists()


def test_another_projects_deploy_and_promotion_are_404(api, project, other_api):
    pair, _ = canary_pair(project), endpoint(project)
    assert promote(other_api, pair.challenger.pk).status_code == 404
    promotion_id = promote(api, pair.challenger.pk).json()["id"]
    assert other_api.get(f"/api/v1/promotions/{promotion_id}").status_code == 404


def test_a_promotion_is_not_a_rollback_and_a_rollback_is_not_a_promotion(api, project):
    pair, _ = canary_pair(project), endpoint(project)
    promotion_id = promote(api, pair.challenger.pk).json()["id"]
    rollback_id = api.post(f"/api/v1/deploys/{pair.challenger.pk}/rollback", {}, format="json").json()["id"]
    assert api.get(f"/api/v1/rollbacks/{promotion_id}").status_code == 404
    assert api.get(f"/api/v1/promotions/{rollback_id}").status_code == 404
    assert api.post(f"/api/v1/rollbacks/{promotion_id}/status", {"status": "running"}, format="json").status_code == 404


def test_ci_completes_the_promotion_with_its_callback(api, project):
    pair, _ = canary_pair(project), endpoint(project)
    promotion_id = promote(api, pair.challenger.pk).json()["id"]
    promotion = RollbackRequest.objects.get(pk=promotion_id)
    ci = client_for(crypto.decrypt(promotion.callback_token_encrypted))
    for status in ("accepted", "running", "succeeded"):
        response = ci.post(f"/api/v1/promotions/{promotion_id}/status", {"status": status}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["changed"] is True and response.json()["promotion"]["state"] == status
    body = api.get(f"/api/v1/promotions/{promotion_id}").json()
    assert body["state"] == "succeeded" and body["finished_at"] is not None
    assert [c["status"] for c in body["callbacks"]] == ["accepted", "running", "succeeded"]
    assert AuditLog.objects.filter(action="promotion.callback", target_id=promotion_id).count() == 3
    # Final: a later report is refused.
    late = ci.post(f"/api/v1/promotions/{promotion_id}/status", {"status": "failed"}, format="json")
    assert late.status_code == 409 and error_code(late) == "rollback_closed"
    # Promoted once: there is nothing left to promote.
    again = promote(api, pair.challenger.pk)
    assert again.status_code == 409 and error_code(again) == "already_promoted"
    assert RollbackRequest.objects.count() == 1


def test_a_failed_promotion_may_be_requested_again(api, project):
    pair, _ = canary_pair(project), endpoint(project)
    promotion_id = promote(api, pair.challenger.pk).json()["id"]
    reported = api.post(f"/api/v1/promotions/{promotion_id}/status", {"status": "failed"}, format="json")
    assert reported.status_code == 200 and reported.json()["promotion"]["state"] == "failed"
    assert promote(api, pair.challenger.pk).status_code == 201


def test_a_promotions_callback_token_does_not_report_on_a_rollback(api, project):
    pair, _ = canary_pair(project), endpoint(project)
    promotion = RollbackRequest.objects.get(pk=promote(api, pair.challenger.pk).json()["id"])
    rollback_id = api.post(f"/api/v1/deploys/{pair.challenger.pk}/rollback", {}, format="json").json()["id"]
    ci = client_for(crypto.decrypt(promotion.callback_token_encrypted))
    response = ci.post(f"/api/v1/rollbacks/{rollback_id}/status", {"status": "running"}, format="json")
    assert response.status_code == 401
    assert RollbackRequest.objects.get(pk=rollback_id).state == "requested"


def test_a_deploy_of_the_canarys_version_does_not_complete_a_promotion(api, project):
    # Promotions end by CI's callback; completion by a deploy is a rollback's rule.
    pair, _ = canary_pair(project), endpoint(project)
    promotion_id = promote(api, pair.challenger.pk).json()["id"]
    deploy(project, "4.1", 0.1, commit_sha=pair.challenger.commit_sha, external_id="full-rollout", traffic_percent=100)
    assert RollbackRequest.objects.get(pk=promotion_id).state == "requested"


def test_an_unanswered_promotion_expires_and_is_audited(api, project):
    pair, _ = canary_pair(project), endpoint(project)
    promotion_id = promote(api, pair.challenger.pk).json()["id"]
    assert rollbacks_expire(now=timezone.now() + timedelta(days=2)) == 1
    assert RollbackRequest.objects.get(pk=promotion_id).state == "expired"
    assert AuditLog.objects.filter(action="promotion.expired", target_id=promotion_id).exists()
