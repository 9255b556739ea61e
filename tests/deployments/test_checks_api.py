"""CI checks attached to a deploy (POST/GET /api/v1/deploys/{id}/checks) and required checks at the gate."""

from __future__ import annotations

import numpy as np
import pytest

from deployments.models import Deploy, DeployCheck, DeployEvent, Service
from deployments.settings_services import service_settings_update
from metrics.impact.analysis import impact_compute
from tests.helpers import client_for, error_code
from tests.metrics.test_impact_api import _deploy, _post_windows

pytestmark = pytest.mark.django_db


def check(name: str, status: str = "passed", **fields) -> dict:
    return {"name": name, "kind": fields.pop("kind", "model_quality"), "status": status, **fields}


@pytest.fixture
def deploy(project) -> Deploy:
    return _deploy(project, "1.0", 10)


def post(api, deploy, *checks: dict):
    return api.post(f"/api/v1/deploys/{deploy.pk}/checks", {"checks": list(checks)}, format="json")


def test_posted_checks_are_listed_failed_first_with_their_figures(api, deploy) -> None:
    response = post(
        api,
        deploy,
        check("auc-holdout", metrics={"auc": 0.91}, segments={"region=eu": {"auc": 0.88}}, url="https://ci.example/1"),
        check("schema", "failed", kind="schema", summary="column income missing"),
        check("bias-gender", "warning", kind="bias"),
    )
    assert response.status_code == 200, response.json()
    listed = api.get(f"/api/v1/deploys/{deploy.pk}/checks").json()
    assert [(c["name"], c["status"]) for c in listed["results"]] == [
        ("schema", "failed"),
        ("bias-gender", "warning"),
        ("auc-holdout", "passed"),
    ]
    auc = listed["results"][2]
    assert auc["metrics"] == {"auc": 0.91} and auc["segments"] == {"region=eu": {"auc": 0.88}}
    assert auc["url"] == "https://ci.example/1"
    assert listed["required"] == {}
    assert DeployEvent.objects.filter(deploy=deploy, kind="checks.recorded").get().message == (
        "3 CI checks recorded: failed schema"
    )


def test_a_check_posted_again_under_its_name_replaces_the_earlier_result(api, deploy) -> None:
    post(api, deploy, check("schema", "failed", kind="schema", summary="column income missing"))
    post(api, deploy, check("schema", "passed", kind="schema"))
    stored = DeployCheck.objects.get(deploy=deploy)
    assert (stored.status, stored.summary) == ("passed", "")


@pytest.mark.parametrize(
    ("checks", "field"),
    [
        ([check(f"c{i}") for i in range(101)], "checks"),
        ([check("x" * 201)], "checks"),
        ([check("a\nb")], "checks"),
        ([check("auc", kind="accuracy")], "checks"),
        ([check("auc", status="skipped")], "checks"),
        ([check("auc", metrics={"blob": "x" * 16_001})], "checks"),
        ([check("auc", metrics=[1, 2])], "checks"),
        ([check("auc", url="javascript:alert(1)")], "checks"),
        ([check("auc", extra=1)], "checks"),
        ([check("auc"), check("auc", "failed")], "checks"),
        ([], "checks"),
    ],
    ids=[
        "101 checks",
        "a 201-character name",
        "a control character in a name",
        "an unknown kind",
        "an unknown status",
        "metrics over 16,000 characters",
        "metrics not an object",
        "a url that is not http",
        "an unknown field",
        "a name twice in one request",
        "no checks",
    ],
)
def test_a_refused_request_is_a_400_and_stores_nothing(api, deploy, checks, field) -> None:
    response = api.post(f"/api/v1/deploys/{deploy.pk}/checks", {"checks": checks}, format="json")
    assert response.status_code == 400
    assert error_code(response) == "invalid"
    assert field in response.json()["error"]["fields"]
    assert not DeployCheck.objects.exists()


def test_another_projects_deploy_is_a_404_and_a_read_token_cannot_post(other_api, make_token, project, deploy) -> None:
    assert post(other_api, deploy, check("schema")).status_code == 404
    assert other_api.get(f"/api/v1/deploys/{deploy.pk}/checks").status_code == 404
    reader = client_for(make_token(project, ["read"]))
    assert post(reader, deploy, check("schema")).status_code == 403
    assert reader.get(f"/api/v1/deploys/{deploy.pk}/checks").status_code == 200
    assert not DeployCheck.objects.exists()


@pytest.fixture
def healthy(api, project) -> Deploy:
    """A deploy whose impact verdict is healthy (the same latency before and after)."""
    _deploy(project, "1.0", 180)
    current = _deploy(project, "1.1", 30)
    rng = np.random.default_rng(3)
    _post_windows(api, rng.normal(100, 8, 200), rng.normal(100, 8, 200))
    impact_compute(deploy=Deploy.objects.select_related("service").get(pk=current.pk))
    return current


def require(deploy: Deploy, *names: str) -> None:
    service_settings_update(service=Service.objects.get(pk=deploy.service_id), changes={"required_checks": list(names)})


def test_a_failed_required_check_makes_the_gate_degraded_naming_it(api, healthy) -> None:
    assert api.get(f"/api/v1/deploys/{healthy.pk}/verdict").json()["verdict"] == "healthy"
    require(healthy, "schema", "bias-gender")
    post(api, healthy, check("schema", kind="schema"), check("bias-gender", "failed", kind="bias"))
    gate = api.get(f"/api/v1/deploys/{healthy.pk}/verdict").json()
    assert gate["verdict"] == "degraded"
    assert gate["reasons"][0] == "required check bias-gender failed"
    assert gate["required_checks"] == {"schema": "passed", "bias-gender": "failed"}


def test_a_missing_required_check_keeps_the_gate_pending_and_not_final(api, healthy) -> None:
    require(healthy, "schema", "bias-gender")
    post(api, healthy, check("schema", kind="schema"))
    gate = api.get(f"/api/v1/deploys/{healthy.pk}/verdict").json()
    assert (gate["verdict"], gate["final"]) == ("pending", False)
    assert gate["reasons"][0] == "waiting for required check bias-gender"
    assert gate["required_checks"] == {"schema": "passed", "bias-gender": "missing"}
    listed = api.get(f"/api/v1/deploys/{healthy.pk}/checks").json()
    assert listed["required"] == {"schema": "passed", "bias-gender": "missing"}


def test_with_every_required_check_passed_the_gate_answers_as_before(api, healthy) -> None:
    before = api.get(f"/api/v1/deploys/{healthy.pk}/verdict").json()
    require(healthy, "schema")
    post(api, healthy, check("schema", "failed", kind="schema"))
    post(api, healthy, check("schema", kind="schema"))  # fixed and re-run: the latest status counts
    gate = api.get(f"/api/v1/deploys/{healthy.pk}/verdict").json()
    assert gate.pop("required_checks") == {"schema": "passed"}
    assert gate == before
