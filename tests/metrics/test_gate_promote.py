"""The gate answers `promote` for a deploy beside its baseline whose final verdict is healthy or improved."""

from __future__ import annotations

import pytest

from alerts import statuses
from metrics.impact.models import ImpactReport
from tests.rollbacks.rollback_world import canary_pair, deploy

pytestmark = pytest.mark.django_db


def gate(api, deploy_id):
    response = api.get(f"/api/v1/deploys/{deploy_id}/verdict")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("verdict", ["healthy", "improved"])
def test_a_final_good_canary_is_to_be_promoted(api, project, verdict):
    pair = canary_pair(project, verdict)
    body = gate(api, pair.challenger.pk)
    assert (body["verdict"], body["final"]) == ("promote", True)
    assert body["reasons"][0] == f"4.1 runs beside its baseline and was judged {verdict}: promote it"


@pytest.mark.parametrize("fields", [{"strategy": "ab"}, {"strategy": "shadow"}, {"strategy": "rolling"}])
def test_ab_shadow_and_partial_traffic_deploys_are_promoted_too(api, project, fields):
    pair = canary_pair(project, "healthy", **fields)
    assert gate(api, pair.challenger.pk)["verdict"] == "promote"


def test_a_canary_judged_only_sequentially_is_not_promoted_and_says_why(api, project):
    pair = canary_pair(project, "healthy")
    ImpactReport.objects.filter(deploy=pair.challenger).update(mode="sequential")
    body = gate(api, pair.challenger.pk)
    assert body["verdict"] == "healthy"
    assert body["reasons"][0].startswith("not promoted: 4.1 was judged sequentially")


def test_a_canary_still_in_its_window_is_not_promoted_yet(api, project):
    pair = canary_pair(project)
    ImpactReport.objects.update_or_create(deploy=pair.challenger, defaults={"verdict": "healthy", "final": False})
    assert gate(api, pair.challenger.pk)["verdict"] == "healthy"


@pytest.mark.parametrize("verdict", ["marginal", "degraded", "insufficient_data"])
def test_a_canary_judged_anything_else_is_not_promoted(api, project, verdict):
    pair = canary_pair(project, verdict)
    assert gate(api, pair.challenger.pk)["verdict"] == verdict


def test_a_deploy_with_all_the_traffic_stays_healthy(api, project):
    deploy(project, "1.0", 5, "healthy")
    whole = deploy(project, "1.1", 1, "healthy", strategy="rolling", traffic_percent=100)
    assert gate(api, whole.pk)["verdict"] == "healthy"


def test_the_lookup_by_version_answers_the_same(api, project):
    pair = canary_pair(project, "healthy")
    params = {"service": "fraud-scorer", "environment": "production", "version": "4.1"}
    assert api.get("/api/v1/verdict", params).json()["verdict"] == "promote"
    assert gate(api, pair.challenger.pk)["verdict"] == "promote"


def test_promote_writes_back_as_a_successful_status():
    answer = statuses.Verdict("promote", 100.0, True)
    assert statuses.state_of(answer) == "success"
