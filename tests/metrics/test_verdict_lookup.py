"""GET /api/v1/verdict and the deploy list's version / external_id filters: the gate for CI without a deploy id."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rest_framework.test import APIClient

from deployments.models import Deploy
from metrics.impact.analysis import impact_compute
from tests.helpers import error_code
from tests.metrics.test_impact_api import _deploy, _post_windows
from tracker import signing
from tracker.services import provider_secret_issue

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_the_verdict_by_service_environment_and_version_equals_the_deploys_own_gate(api, project):
    _deploy(project, "1.0", 180)
    current = _deploy(project, "1.1", 30)
    rng = np.random.default_rng(1)
    _post_windows(api, rng.normal(100, 8, 200), rng.normal(120, 8, 200))
    impact_compute(deploy=Deploy.objects.select_related("service").get(pk=current.pk))

    by_id = api.get(f"/api/v1/deploys/{current.pk}/verdict")
    found = api.get("/api/v1/verdict", {"service": "fraud-scorer", "environment": "production", "version": "1.1"})
    assert found.status_code == 200 and by_id.json()["verdict"] == "degraded"
    assert found.json() == by_id.json()
    older = api.get("/api/v1/verdict", {"service": "fraud-scorer", "environment": "production", "version": "1.0"})
    assert older.json()["deploy"] == current.baseline_id


def test_without_a_version_the_newest_deploy_of_the_stream_answers(api, project):
    _deploy(project, "1.0", 180)
    newest = _deploy(project, "1.1", 30)
    found = api.get("/api/v1/verdict", {"service": "fraud-scorer", "environment": "production"})
    assert found.json() == api.get(f"/api/v1/deploys/{newest.pk}/verdict").json()


def test_a_version_deployed_twice_answers_for_its_newest_deploy(api, project):
    _deploy(project, "1.0", 300)
    _deploy(project, "1.1", 180)
    again = _deploy(project, "1.0", 10)  # a rollback to 1.0
    found = api.get("/api/v1/verdict", {"service": "fraud-scorer", "environment": "production", "version": "1.0"})
    assert found.json()["deploy"] == again.pk and found.json()["verdict"] == "rollback"


def test_a_deploy_made_by_a_native_github_hook_is_found_by_version_and_by_external_id(api, project):
    secret = provider_secret_issue(project=project, provider="github")
    body = (FIXTURES / "github" / "deployment_status.payload.json").read_bytes()
    hooked = APIClient().post(
        f"/api/v1/webhooks/github/{project.slug}",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signing.github_signature(secret, body),
        HTTP_X_GITHUB_EVENT="deployment_status",
        HTTP_X_GITHUB_DELIVERY="d-1",
    )
    assert hooked.status_code == 201, hooked.content
    deploy_id = hooked.json()["deploy"]["id"]
    own = api.get(f"/api/v1/deploys/{deploy_id}/verdict").json()
    by_version = api.get(
        "/api/v1/verdict",
        {"service": "Codertocat.Hello-World", "environment": "production", "version": "f95f852bd8fc"},
    )
    by_external_id = api.get("/api/v1/verdict", {"external_id": "github-deployment-145988746"})
    assert by_version.json() == own == by_external_id.json()
    assert own["verdict"] == "pending"


def test_the_deploy_list_filters_by_version_and_external_id(api, project):
    _deploy(project, "1.0", 180, external_id="run-1")
    _deploy(project, "1.1", 30, external_id="run-2")
    by_version = api.get("/api/v1/deploys", {"version": "1.1"}).json()["results"]
    by_external_id = api.get("/api/v1/deploys", {"external_id": "run-1"}).json()["results"]
    assert [d["version"] for d in by_version] == ["1.1"]
    assert [d["version"] for d in by_external_id] == ["1.0"]
    assert api.get("/api/v1/deploys", {"version": "9.9"}).json()["results"] == []


def test_no_matching_deploy_is_a_404_in_the_error_shape(api, project):
    _deploy(project, "1.0", 30)
    response = api.get("/api/v1/verdict", {"service": "fraud-scorer", "environment": "production", "version": "2.0"})
    assert response.status_code == 404 and error_code(response) == "not_found"


def test_the_lookup_needs_a_stream_or_an_external_id(api):
    response = api.get("/api/v1/verdict", {"version": "1.0"})
    assert response.status_code == 400 and error_code(response) == "invalid"
    assert "service" in response.json()["error"]["fields"]


def test_another_projects_deploy_is_not_found(other_api, project):
    _deploy(project, "1.0", 30, external_id="run-1")
    assert other_api.get("/api/v1/verdict", {"external_id": "run-1"}).status_code == 404
    found = other_api.get("/api/v1/verdict", {"service": "fraud-scorer", "environment": "production"})
    assert found.status_code == 404 and error_code(found) == "not_found"


def test_the_lookup_is_as_cheap_as_the_gate(api, project, django_assert_max_num_queries):
    _deploy(project, "1.0", 30)
    with django_assert_max_num_queries(8):
        assert api.get("/api/v1/verdict", {"service": "fraud-scorer", "environment": "production"}).status_code == 200
