"""Native GitHub, GitLab and MLflow webhooks, replayed from stored payloads."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from deployments import providers
from deployments.models import Deploy
from tests.helpers import error_code
from tracker import signing
from tracker.services import provider_secret_issue

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VECTORS = json.loads((FIXTURES / "signing-vectors.json").read_text())


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def github_post(client, project, body: bytes, secret: str, event="deployment_status", delivery="d-1"):
    return client.post(
        f"/api/v1/webhooks/github/{project.slug}",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signing.github_signature(secret, body),
        HTTP_X_GITHUB_EVENT=event,
        HTTP_X_GITHUB_DELIVERY=delivery,
    )


def mlflow_headers(secret: str, body: bytes, delivery="mlf-1", ts=None):
    ts = str(int(time.time() if ts is None else ts))
    digest = hmac.new(secret.encode(), f"{delivery}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {
        "HTTP_X_MLFLOW_SIGNATURE": "v1," + base64.b64encode(digest).decode(),
        "HTTP_X_MLFLOW_DELIVERY_ID": delivery,
        "HTTP_X_MLFLOW_TIMESTAMP": ts,
    }


def test_the_github_signature_reproduces_the_known_answer_vector():
    vector = VECTORS["github_x_hub_signature_256"]
    assert signing.github_signature(vector["secret"], vector["body"].encode()) == vector["X-Hub-Signature-256"]


def test_a_github_deployment_status_becomes_a_deploy_once(project):
    secret = provider_secret_issue(project=project, provider="github")
    body = fixture("github_deployment_status.json")
    client = APIClient()
    response = github_post(client, project, body, secret)
    assert response.status_code == 201, response.content
    deploy = Deploy.objects.get()
    assert (deploy.service.name, deploy.environment.name, deploy.version) == ("fraud-scorer", "production", "2026.11.3")
    assert deploy.status == "succeeded" and deploy.external_id == "github-deployment-145988746"
    assert deploy.commit_sha.startswith("9f2c3a1b") and deploy.author == "dana" and deploy.model_version == "41"
    assert deploy.ci_url.endswith("/job/24001") and deploy.strategy == "canary"
    # GitHub redelivers with the same X-GitHub-Delivery: a no-op with the same answer.
    assert github_post(client, project, body, secret).json()["id"] == deploy.pk
    assert Deploy.objects.count() == 1


def test_github_pings_and_other_events_are_acknowledged_and_ignored(project):
    secret = provider_secret_issue(project=project, provider="github")
    response = github_post(APIClient(), project, b'{"zen": "Keep it logically awesome."}', secret, event="ping")
    assert response.status_code == 202 and "ignored" in response.json()
    assert not Deploy.objects.exists()


@pytest.mark.parametrize("signature", ["", "sha256=00", "sha1=abc", "garbage"])
def test_a_bad_github_signature_is_a_401_and_stores_nothing(project, signature):
    provider_secret_issue(project=project, provider="github")
    response = APIClient().post(
        f"/api/v1/webhooks/github/{project.slug}",
        data=fixture("github_deployment_status.json"),
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
    body = fixture("github_deployment_status.json")
    headers = {
        "HTTP_X_HUB_SIGNATURE_256": signing.github_signature("guess", body),
        "HTTP_X_GITHUB_EVENT": "deployment_status",
        "HTTP_X_GITLAB_TOKEN": "guess",
        **mlflow_headers("guess", body),
    }

    def answer(slug: str) -> tuple[int, bytes]:
        response = APIClient().post(
            f"/api/v1/webhooks/{provider}/{slug}", data=body, content_type="application/json", **headers
        )
        return response.status_code, response.content

    unknown = answer("no-such-project")
    assert unknown[0] == 401 and json.loads(unknown[1])["error"]["code"] == "signature_invalid"
    # A real project without this provider's secret, and one with a secret the guess does not match.
    assert answer(project.slug) == unknown
    assert answer(other_project.slug) == unknown
    assert not Deploy.objects.exists()


def test_a_github_payload_missing_its_deployment_is_a_400(project):
    secret = provider_secret_issue(project=project, provider="github")
    body = json.dumps({"deployment_status": {"state": "success"}}).encode()
    response = github_post(APIClient(), project, body, secret)
    assert response.status_code == 400 and error_code(response) == "invalid"


def test_a_gitlab_deployment_event_becomes_a_deploy(project):
    secret = provider_secret_issue(project=project, provider="gitlab")
    response = APIClient().post(
        f"/api/v1/webhooks/gitlab/{project.slug}",
        data=fixture("gitlab_deployment.json"),
        content_type="application/json",
        HTTP_X_GITLAB_TOKEN=secret,
        HTTP_X_GITLAB_EVENT="Deployment Hook",
        HTTP_X_GITLAB_EVENT_UUID="u-1",
    )
    assert response.status_code == 201, response.content
    deploy = Deploy.objects.get()
    assert (deploy.service.name, deploy.environment.name, deploy.version) == ("churn-model", "staging", "279484c0")
    assert deploy.commit_sha == "279484c09fbe69ededfced8c1bb6e6d24616b468" and deploy.author == "noor"
    assert deploy.finished_at.isoformat() == "2026-11-28T09:40:00+00:00"


def test_a_wrong_gitlab_token_is_a_401(project):
    provider_secret_issue(project=project, provider="gitlab")
    response = APIClient().post(
        f"/api/v1/webhooks/gitlab/{project.slug}",
        data=fixture("gitlab_deployment.json"),
        content_type="application/json",
        HTTP_X_GITLAB_TOKEN="wrong",
    )
    assert response.status_code == 401 and not Deploy.objects.exists()


def test_an_mlflow_alias_pointing_at_a_version_is_a_deploy_of_that_model(project):
    secret = provider_secret_issue(project=project, provider="mlflow")
    body = fixture("mlflow_alias_created.json")
    response = APIClient().post(
        f"/api/v1/webhooks/mlflow/{project.slug}",
        data=body,
        content_type="application/json",
        **mlflow_headers(secret, body),
    )
    assert response.status_code == 201, response.content
    deploy = Deploy.objects.get()
    assert (deploy.service.name, deploy.environment.name) == ("fraud-gbm", "production")
    assert (deploy.model_name, deploy.model_version, deploy.model_uri) == ("fraud-gbm", "42", "models:/fraud-gbm/42")


@pytest.mark.parametrize("change", [{"ts": 0}, {"delivery": "other"}])
def test_a_stale_or_mismatched_mlflow_signature_is_a_401(project, change):
    secret = provider_secret_issue(project=project, provider="mlflow")
    body = fixture("mlflow_alias_created.json")
    headers = mlflow_headers(secret, body, ts=change.get("ts"))
    if "delivery" in change:
        headers["HTTP_X_MLFLOW_DELIVERY_ID"] = change["delivery"]
    response = APIClient().post(
        f"/api/v1/webhooks/mlflow/{project.slug}", data=body, content_type="application/json", **headers
    )
    assert response.status_code == 401 and not Deploy.objects.exists()


def test_mlflow_events_that_do_not_deploy_are_ignored():
    with pytest.raises(providers.Ignored):
        providers.mlflow_event({"entity": "model_version", "action": "created", "data": {"name": "m", "version": "1"}})


def test_github_failure_and_inactive_states_map_as_documented():
    body = json.loads(fixture("github_deployment_status.json"))
    body["deployment_status"]["state"] = "error"
    assert providers.github_deployment_status(body)["status"] == "failed"
    body["deployment_status"]["state"] = "inactive"
    with pytest.raises(providers.Ignored):
        providers.github_deployment_status(body)
