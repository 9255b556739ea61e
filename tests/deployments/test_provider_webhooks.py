"""Native GitHub, GitLab and MLflow webhooks, replayed from stored real payloads.

GitHub: octokit's published examples; GitLab: the documented Deployment Hook example; MLflow: requests built
and signed by MLflow's own delivery code (see the READMEs in tests/fixtures/). Variants change only the fields
concerned. A valid, authenticated provider event is never answered with a 4xx.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from deployments import providers
from deployments.models import Deploy, DeployEvent, Environment
from tests.helpers import error_code
from tracker import signing
from tracker.services import provider_secret_issue

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VECTORS = json.loads((FIXTURES / "signing-vectors.json").read_text())
MLFLOW_SECRET = "mlflow-fixture-secret"


def load(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def octokit(name: str) -> dict:
    return load(f"github/{name}.payload.json")


def status_event(state: str = "success", environment: str | None = None, status_id: int = 209916254) -> dict:
    """octokit's deployment_status example with only the status's state, environment and id changed."""
    body = octokit("deployment_status")
    body["deployment_status"]["state"] = state
    body["deployment_status"]["id"] = status_id
    if environment:
        body["deployment_status"]["environment"] = environment
    return body


def github_post(project, body: dict | bytes, secret: str, event="deployment_status", delivery="d-1", form=False):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    content_type = "application/json"
    if form:
        raw, content_type = urlencode({"payload": raw.decode()}).encode(), "application/x-www-form-urlencoded"
    return APIClient().post(
        f"/api/v1/webhooks/github/{project.slug}",
        data=raw,
        content_type=content_type,
        HTTP_X_HUB_SIGNATURE_256=signing.github_signature(secret, raw),
        HTTP_X_GITHUB_EVENT=event,
        HTTP_X_GITHUB_DELIVERY=delivery,
    )


def gitlab_event(**changes) -> dict:
    body = load("gitlab/deployment_hook.json")
    project = changes.pop("project", None)
    if project:
        body["project"].update(project)
    body.update(changes)
    return body


def gitlab_post(project, body: dict, secret: str, key: str | None = "k-1", uuid: str = "u-1"):
    headers = {
        "HTTP_X_GITLAB_TOKEN": secret,
        "HTTP_X_GITLAB_EVENT": "Deployment Hook",
        "HTTP_X_GITLAB_EVENT_UUID": uuid,
    }
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return APIClient().post(
        f"/api/v1/webhooks/gitlab/{project.slug}", data=json.dumps(body), content_type="application/json", **headers
    )


def mlflow_delivery(name: str) -> tuple[bytes, dict]:
    stored = load(f"mlflow/{name}.json")
    return stored["body"].encode(), stored["headers"]


def mlflow_sign(secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    # MLflow's _generate_hmac_signature: HMAC-SHA256 of "{delivery_id}.{timestamp}.{payload}", "v1,<base64>".
    digest = hmac.new(secret.encode(), f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def mlflow_post(project, name: str, secret: str = MLFLOW_SECRET, fresh: bool = True, body: bytes | None = None):
    stored_body, headers = mlflow_delivery(name)
    body = stored_body if body is None else body
    timestamp = str(int(time.time())) if fresh else headers["X-MLflow-Timestamp"]
    signature = (
        mlflow_sign(secret, headers["X-MLflow-Delivery-Id"], timestamp, body)
        if fresh
        else headers["X-MLflow-Signature"]
    )
    return APIClient().post(
        f"/api/v1/webhooks/mlflow/{project.slug}",
        data=body,
        content_type="application/json",
        HTTP_X_MLFLOW_SIGNATURE=signature,
        HTTP_X_MLFLOW_DELIVERY_ID=headers["X-MLflow-Delivery-Id"],
        HTTP_X_MLFLOW_TIMESTAMP=timestamp,
    )


@pytest.fixture
def github_secret(project) -> str:
    return provider_secret_issue(project=project, provider="github")


@pytest.fixture
def gitlab_secret(project) -> str:
    return provider_secret_issue(project=project, provider="gitlab")


# --- GitHub -------------------------------------------------------------------------------------------------


def test_the_github_signature_reproduces_the_known_answer_vector():
    vector = VECTORS["github_x_hub_signature_256"]
    assert signing.github_signature(vector["secret"], vector["body"].encode()) == vector["X-Hub-Signature-256"]


def test_octokits_deployment_status_becomes_a_deploy_once(project, github_secret):
    body = octokit("deployment_status")
    response = github_post(project, body, github_secret)
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["ignored"] == [] and answer["applied"] == [f"deploy {answer['deploy']['id']} created (succeeded)"]
    deploy = Deploy.objects.get()
    # The service is the repository's full path: Codertocat/Hello-World, not "Hello-World".
    assert (deploy.service.name, deploy.environment.name) == ("Codertocat.Hello-World", "production")
    assert deploy.version == "f95f852bd8fc" and deploy.commit_sha == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    assert deploy.status == "succeeded" and deploy.external_id == "github-deployment-145988746"
    assert deploy.author == "Codertocat" and deploy.ref == "master"
    assert deploy.finished_at.isoformat() == "2019-05-15T15:20:55+00:00"
    assert "task deploy" in deploy.events.get(kind="received").message
    # GitHub redelivers with the same X-GitHub-Delivery: a no-op with the same answer.
    assert github_post(project, body, github_secret).json() == answer
    assert Deploy.objects.count() == 1


def test_a_deployment_created_event_makes_a_pending_deploy_that_its_statuses_complete(project, github_secret):
    response = github_post(project, octokit("deployment"), github_secret, event="deployment", delivery="d-0")
    assert response.status_code == 201, response.content
    assert response.json()["deploy"]["status"] == "pending"
    assert github_post(project, status_event("success"), github_secret).status_code == 200
    deploy = Deploy.objects.get()
    assert deploy.status == "succeeded"


def test_a_late_in_progress_after_success_is_ignored_with_a_2xx_and_said_so(project, github_secret):
    assert github_post(project, status_event("success"), github_secret, delivery="d-1").status_code == 201
    late = github_post(project, status_event("in_progress", status_id=209916200), github_secret, delivery="d-2")
    assert late.status_code == 202, late.content
    ignored = late.json()["ignored"]
    assert ignored == [{"what": "status in_progress", "reason": "the deploy is already succeeded; it never moves back"}]
    deploy = Deploy.objects.get()
    assert deploy.status == "succeeded" and deploy.finished_at is not None
    assert deploy.events.filter(kind="received").last().details["ignored"] == ignored


def test_the_gh_pages_in_progress_status_keeps_its_log_and_is_not_production(project, github_secret):
    response = github_post(project, octokit("deployment_status.gh-pages"), github_secret)
    assert response.status_code == 201, response.content
    deploy = Deploy.objects.get()
    assert (deploy.environment.name, deploy.status) == ("github-pages", "in_progress")
    assert deploy.ci_url == "https://github.com/CorsixTH/CorsixTH/runs/4687056418?check_suite_focus=true"
    assert deploy.environment.is_production is False


def test_production_environment_true_makes_an_oddly_named_environment_production(project, github_secret):
    body = octokit("deployment_status.gh-pages")
    body["deployment"]["production_environment"] = True
    body["deployment_status"]["environment"] = body["deployment"]["environment"] = "eu-prod-1"
    assert github_post(project, body, github_secret).status_code == 201
    assert Environment.objects.get(project=project, name="eu-prod-1").is_production is True


def test_a_status_that_moves_an_unfinished_deployment_to_production_moves_the_deploy(project, github_secret):
    assert (
        github_post(project, status_event("in_progress", "staging"), github_secret, delivery="d-1").status_code == 201
    )
    moved = github_post(project, status_event("success", "production", status_id=2), github_secret, delivery="d-2")
    assert moved.status_code == 200, moved.content
    assert "moved from Codertocat.Hello-World/staging" in moved.json()["applied"]
    deploy = Deploy.objects.get()
    assert (deploy.environment.name, deploy.status) == ("production", "succeeded")


def test_a_status_naming_production_after_success_in_staging_keeps_both_deploys(project, github_secret):
    assert github_post(project, status_event("success", "staging"), github_secret, delivery="d-1").status_code == 201
    promoted = github_post(project, status_event("success", "production", status_id=2), github_secret, delivery="d-2")
    assert promoted.status_code == 201, promoted.content
    stored = {d.environment.name: d.status for d in Deploy.objects.all()}
    assert stored == {"staging": "succeeded", "production": "succeeded"}
    # Later statuses for the production environment update the production deploy, not a third one.
    again = github_post(project, status_event("success", "production", status_id=3), github_secret, delivery="d-3")
    assert again.status_code == 200 and Deploy.objects.count() == 2


def test_the_same_repository_name_in_two_owners_is_two_services(project, github_secret):
    first = status_event()
    second = copy.deepcopy(first)
    second["repository"]["full_name"] = "other-owner/Hello-World"
    second["deployment"]["id"] = 145988747
    assert github_post(project, first, github_secret, delivery="d-1").status_code == 201
    assert github_post(project, second, github_secret, delivery="d-2").status_code == 201
    assert sorted(d.service.name for d in Deploy.objects.all()) == ["Codertocat.Hello-World", "other-owner.Hello-World"]
    # Distinct services: neither is the other's baseline.
    assert not Deploy.objects.filter(baseline__isnull=False).exists()


def test_a_project_may_map_a_repository_to_a_chosen_service_name(api, project, github_secret):
    response = api.patch(
        "/api/v1/webhook-settings", {"service_names": {"Codertocat/Hello-World": "hello"}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["mlflow_environments"] == {"champion": "production"}
    assert github_post(project, status_event(), github_secret).status_code == 201
    assert Deploy.objects.get().service.name == "hello"


def test_a_bad_service_name_in_the_mapping_is_refused_and_stores_nothing(api):
    response = api.patch("/api/v1/webhook-settings", {"service_names": {"a/b": "not a name"}}, format="json")
    assert response.status_code == 400 and error_code(response) == "invalid"
    assert api.get("/api/v1/webhook-settings").json()["service_names"] == {}


@pytest.mark.parametrize("key", ["", "a\u0000b", "line\nbreak", "\udb68", "x" * 256])
def test_a_mapping_key_that_cannot_be_stored_is_refused_and_stores_nothing(api, key):
    body = json.dumps({"mlflow_environments": {key: "production"}, "service_names": {}}).encode()
    response = api.patch("/api/v1/webhook-settings", body, content_type="application/json")
    assert response.status_code == 400 and error_code(response) == "invalid", response.content
    assert api.get("/api/v1/webhook-settings").json()["mlflow_environments"] == {"champion": "production"}


def test_a_deployment_payload_sent_as_a_json_string_is_parsed(project, github_secret):
    body = status_event()
    body["deployment"]["payload"] = json.dumps(
        {"version": "2026.11.3", "model": {"name": "fraud-gbm", "version": "41"}}
    )
    assert github_post(project, body, github_secret).status_code == 201
    deploy = Deploy.objects.get()
    assert (deploy.version, deploy.model_name, deploy.model_version) == ("2026.11.3", "fraud-gbm", "41")


def test_one_bad_field_in_the_payload_is_ignored_and_the_deploy_still_stored(project, github_secret):
    body = status_event()
    body["deployment"]["payload"] = {"version": "2026.11.3", "traffic_percent": "lots"}
    response = github_post(project, body, github_secret)
    assert response.status_code == 201, response.content
    assert [part["what"] for part in response.json()["ignored"]] == ["traffic_percent"]
    deploy = Deploy.objects.get()
    assert deploy.version == "2026.11.3" and deploy.traffic_percent is None


def test_a_bad_version_in_the_payload_falls_back_to_the_commit_and_is_said(project, github_secret):
    body = status_event()
    body["deployment"]["payload"] = {"version": "v" * 300, "strategy": "canary"}
    response = github_post(project, body, github_secret)
    assert response.status_code == 201, response.content
    assert [part["what"] for part in response.json()["ignored"]] == ["version"]
    deploy = Deploy.objects.get()
    assert (deploy.version, deploy.strategy) == ("f95f852bd8fc", "canary")


def test_a_payload_string_that_is_not_json_is_ignored_and_said_so(project, github_secret):
    body = status_event()
    body["deployment"]["payload"] = "{not json"
    response = github_post(project, body, github_secret)
    assert response.status_code == 201
    assert response.json()["ignored"] == [{"what": "deployment.payload", "reason": "a string that is not JSON"}]


def test_environment_url_and_status_description_are_kept(project, github_secret):
    body = status_event()
    body["deployment_status"]["environment_url"] = "https://hello.example.com"
    body["deployment_status"]["description"] = "Deployed by Argo CD"
    assert github_post(project, body, github_secret).status_code == 201
    deploy = Deploy.objects.get()
    assert deploy.environment_url == "https://hello.example.com"
    assert deploy.events.get(kind="received").message.endswith("Deployed by Argo CD")


def test_a_form_encoded_delivery_githubs_default_content_type_is_accepted(project, github_secret):
    response = github_post(project, octokit("deployment_status"), github_secret, form=True)
    assert response.status_code == 201, response.content
    assert Deploy.objects.get().status == "succeeded"


def test_github_pings_and_other_events_are_acknowledged_and_ignored(project, github_secret):
    response = github_post(project, b'{"zen": "Keep it logically awesome."}', github_secret, event="ping")
    assert response.status_code == 202 and response.json()["ignored"][0]["what"] == "event"
    assert not Deploy.objects.exists()


def test_the_echo_of_a_verdict_written_back_does_not_fail_the_deploy(project, github_secret):
    """Status write-back posts a degraded verdict as a GitHub "failure"; GitHub sends that status back here."""
    assert (
        github_post(project, octokit("deployment"), github_secret, event="deployment", delivery="d-0").status_code
        == 201
    )
    echo = status_event("failure")
    echo["deployment_status"]["description"] = "Deploy Tracker: degraded, score 0.4 so far (f95f852bd8fc)"
    response = github_post(project, echo, github_secret, delivery="d-echo")
    assert response.status_code == 202, response.content
    assert "wrote back itself" in response.json()["ignored"][0]["reason"]
    assert Deploy.objects.get().status == "pending"


def test_an_inactive_status_is_acknowledged_and_ignored(project, github_secret):
    assert github_post(project, status_event("inactive"), github_secret).status_code == 202
    assert not Deploy.objects.exists()


@pytest.mark.parametrize("signature", ["", "sha256=00", "sha1=abc", "garbage"])
def test_a_bad_github_signature_is_a_401_and_stores_nothing(project, github_secret, signature):
    response = APIClient().post(
        f"/api/v1/webhooks/github/{project.slug}",
        data=json.dumps(octokit("deployment_status")),
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signature,
        HTTP_X_GITHUB_EVENT="deployment_status",
    )
    assert response.status_code == 401 and error_code(response) == "signature_invalid"
    assert not Deploy.objects.exists()


@pytest.mark.parametrize("provider", ["github", "gitlab", "mlflow"])
def test_an_unknown_project_answers_exactly_like_a_real_one_so_slugs_cannot_be_enumerated(
    project, other_project, provider
):
    provider_secret_issue(project=other_project, provider=provider)
    body = json.dumps(octokit("deployment_status")).encode()
    timestamp = str(int(time.time()))
    headers = {
        "HTTP_X_HUB_SIGNATURE_256": signing.github_signature("guess", body),
        "HTTP_X_GITHUB_EVENT": "deployment_status",
        "HTTP_X_GITLAB_TOKEN": "guess",
        "HTTP_X_MLFLOW_SIGNATURE": mlflow_sign("guess", "mlf-1", timestamp, body),
        "HTTP_X_MLFLOW_DELIVERY_ID": "mlf-1",
        "HTTP_X_MLFLOW_TIMESTAMP": timestamp,
    }

    def answer(slug: str) -> tuple[int, bytes]:
        response = APIClient().post(
            f"/api/v1/webhooks/{provider}/{slug}", data=body, content_type="application/json", **headers
        )
        return response.status_code, response.content

    unknown = answer("no-such-project")
    assert unknown[0] == 401 and json.loads(unknown[1])["error"]["code"] == "signature_invalid"
    assert answer(project.slug) == unknown
    assert answer(other_project.slug) == unknown
    assert not Deploy.objects.exists()


def test_a_github_payload_missing_its_deployment_is_a_400(project, github_secret):
    response = github_post(project, {"deployment_status": {"state": "success"}}, github_secret)
    assert response.status_code == 400 and error_code(response) == "invalid"


def test_github_failure_and_inactive_states_map_as_documented():
    body = status_event("error")
    assert providers.github_deployment_status(body).event["status"] == "failed"
    with pytest.raises(providers.Ignored):
        providers.github_deployment_status(status_event("inactive"))


# --- GitLab -------------------------------------------------------------------------------------------------


def test_gitlabs_documented_deployment_hook_becomes_a_deploy(project, gitlab_secret):
    response = gitlab_post(project, gitlab_event(), gitlab_secret)
    assert response.status_code == 201, response.content
    deploy = Deploy.objects.get()
    assert (deploy.service.name, deploy.environment.name) == ("root.test-deployment-webhooks", "staging")
    assert deploy.version == "279484c0" and deploy.commit_sha == "279484c09fbe69ededfced8c1bb6e6d24616b468"
    assert deploy.author == "root" and deploy.environment_url == "https://staging.example.com"
    assert deploy.finished_at.isoformat() == "2021-04-28T19:50:00+00:00"
    assert deploy.environment.is_production is False


def test_gitlab_running_sets_started_at_and_success_finishes_it(project, gitlab_secret):
    running = gitlab_event(status="running", status_changed_at="2021-04-28 21:45:00 +0200")
    assert gitlab_post(project, running, gitlab_secret, key="k-1").status_code == 201
    assert gitlab_post(project, gitlab_event(), gitlab_secret, key="k-2").status_code == 200
    deploy = Deploy.objects.get()
    assert deploy.started_at.isoformat() == "2021-04-28T19:45:00+00:00"
    assert deploy.finished_at.isoformat() == "2021-04-28T19:50:00+00:00" and deploy.status == "succeeded"


def test_a_late_gitlab_running_after_success_is_ignored_not_refused(project, gitlab_secret):
    assert gitlab_post(project, gitlab_event(), gitlab_secret, key="k-1").status_code == 201
    late = gitlab_post(project, gitlab_event(status="running"), gitlab_secret, key="k-2")
    assert late.status_code == 202 and late.json()["ignored"][0]["what"] == "status in_progress"
    assert Deploy.objects.get().status == "succeeded"


def test_gitlab_dedupes_on_idempotency_key_not_on_the_shared_event_uuid(project, gitlab_secret):
    # Two deployments fired from one request share X-Gitlab-Event-UUID; each has its own Idempotency-Key.
    first = gitlab_post(project, gitlab_event(), gitlab_secret, key="k-1", uuid="one-uuid-for-both")
    second = gitlab_post(
        project, gitlab_event(deployment_id=16, environment="qa"), gitlab_secret, key="k-2", uuid="one-uuid-for-both"
    )
    assert (first.status_code, second.status_code) == (201, 201), second.content
    # A retry of the first carries its Idempotency-Key again: the same answer, nothing new.
    retry = gitlab_post(project, gitlab_event(), gitlab_secret, key="k-1", uuid="regenerated")
    assert retry.json() == first.json() and Deploy.objects.count() == 2


def test_gitlab_tier_production_makes_the_environment_production(project, gitlab_secret):
    body = gitlab_event(environment="eu-prod-1", environment_tier="production", environment_slug="eu-prod-1")
    assert gitlab_post(project, body, gitlab_secret).status_code == 201
    assert Environment.objects.get(project=project, name="eu-prod-1").is_production is True


def test_the_same_project_name_in_two_groups_is_two_services(project, gitlab_secret):
    other = gitlab_event(deployment_id=99, project={"path_with_namespace": "other-group/test-deployment-webhooks"})
    assert gitlab_post(project, gitlab_event(), gitlab_secret, key="k-1").status_code == 201
    assert gitlab_post(project, other, gitlab_secret, key="k-2").status_code == 201
    names = sorted(d.service.name for d in Deploy.objects.all())
    assert names == ["other-group.test-deployment-webhooks", "root.test-deployment-webhooks"]


def test_a_wrong_gitlab_token_is_a_401(project, gitlab_secret):
    assert gitlab_post(project, gitlab_event(), "wrong").status_code == 401
    assert not Deploy.objects.exists()


# --- MLflow -------------------------------------------------------------------------------------------------


@pytest.fixture
def mlflow_hook(project):
    from tracker.models import ProviderHook

    # The stored deliveries were signed with a known secret; give the project that secret.
    provider_secret_issue(project=project, provider="mlflow")
    from tracker import crypto

    ProviderHook.objects.filter(project=project, provider="mlflow").update(
        secret_encrypted=crypto.encrypt(MLFLOW_SECRET)
    )
    return project


def test_our_check_accepts_the_signature_mlflows_own_code_made():
    body, headers = mlflow_delivery("model_version_alias_created")
    timestamp = headers["X-MLflow-Timestamp"]
    assert providers.mlflow_verify(
        MLFLOW_SECRET,
        headers["X-MLflow-Signature"],
        headers["X-MLflow-Delivery-Id"],
        timestamp,
        body,
        now=int(timestamp),
    )


def test_an_mlflow_champion_alias_is_a_production_deploy_with_an_external_id(mlflow_hook):
    response = mlflow_post(mlflow_hook, "model_version_alias_created")
    assert response.status_code == 201, response.content
    deploy = Deploy.objects.get()
    assert (deploy.service.name, deploy.environment.name, deploy.version) == (
        "fraud-gbm",
        "production",
        "fraud-gbm-v42",
    )
    assert deploy.external_id == "mlflow-fraud-gbm@champion-v42"
    assert (deploy.model_name, deploy.model_version) == ("fraud-gbm", "42")


def test_a_resent_alias_event_updates_the_same_deploy(mlflow_hook):
    body, _ = mlflow_delivery("model_version_alias_created")
    assert mlflow_post(mlflow_hook, "model_version_alias_created").status_code == 201
    # MLflow sends the same event again under a new delivery id (a second webhook, a re-set alias).
    resent = APIClient().post(
        f"/api/v1/webhooks/mlflow/{mlflow_hook.slug}",
        data=body,
        content_type="application/json",
        HTTP_X_MLFLOW_DELIVERY_ID="another-delivery",
        HTTP_X_MLFLOW_TIMESTAMP=(ts := str(int(time.time()))),
        HTTP_X_MLFLOW_SIGNATURE=mlflow_sign(MLFLOW_SECRET, "another-delivery", ts, body),
    )
    assert resent.status_code == 200, resent.content
    assert Deploy.objects.count() == 1


def test_model_version_created_carries_run_and_source_into_the_deploy(mlflow_hook):
    created = mlflow_post(mlflow_hook, "model_version_created")
    assert created.status_code == 200, created.content
    assert created.json()["deploy"] is None
    assert mlflow_post(mlflow_hook, "model_version_alias_created").status_code == 201
    deploy = Deploy.objects.get()
    assert deploy.model_run_id == "7c1e0b9a54d34f6e8a2b1c3d4e5f6a7b"
    assert deploy.model_uri == "models:/m-7c1e0b9a54d34f6e8a2b1c3d4e5f6a7b"


def test_a_late_model_version_created_fills_the_lineage_of_its_deploy(mlflow_hook):
    assert mlflow_post(mlflow_hook, "model_version_alias_created").status_code == 201
    assert mlflow_post(mlflow_hook, "model_version_created").status_code == 200
    assert Deploy.objects.get().model_run_id == "7c1e0b9a54d34f6e8a2b1c3d4e5f6a7b"


def test_an_alias_deletion_is_recorded_on_the_deploys_timeline(mlflow_hook, client, alice):
    assert mlflow_post(mlflow_hook, "model_version_alias_created").status_code == 201
    response = mlflow_post(mlflow_hook, "model_version_alias_deleted")
    assert response.status_code == 200, response.content
    event = DeployEvent.objects.get(kind="alias_removed")
    assert event.message == "MLflow alias champion removed from fraud-gbm (version 42)"
    client.force_login(alice)
    page = client.get(event.deploy.get_absolute_url()).content.decode()
    assert "MLflow alias champion removed from fraud-gbm (version 42)" in page


@pytest.mark.parametrize("name", ["test_model_version_alias_created", "test_model_version_created"])
def test_mlflows_test_webhook_delivery_creates_nothing(mlflow_hook, name):
    response = mlflow_post(mlflow_hook, name)
    assert response.status_code == 202, response.content
    assert "test delivery" in response.json()["ignored"][0]["reason"]
    assert not Deploy.objects.exists()


def test_the_alias_to_environment_mapping_is_configurable(api, mlflow_hook):
    assert (
        api.patch("/api/v1/webhook-settings", {"mlflow_environments": {"champion": "live"}}, format="json").status_code
        == 200
    )
    assert mlflow_post(mlflow_hook, "model_version_alias_created").status_code == 201
    assert Deploy.objects.get().environment.name == "live"


def test_a_stale_mlflow_delivery_is_signature_stale(mlflow_hook):
    # The stored delivery, exactly as MLflow signed it, replayed long after its timestamp.
    response = mlflow_post(mlflow_hook, "model_version_alias_created", fresh=False)
    assert response.status_code == 401 and error_code(response) == "signature_stale"
    assert not Deploy.objects.exists()


def test_a_mismatched_mlflow_signature_is_signature_invalid(mlflow_hook):
    response = mlflow_post(mlflow_hook, "model_version_alias_created", secret="not-the-secret")
    assert response.status_code == 401 and error_code(response) == "signature_invalid"
    assert not Deploy.objects.exists()
