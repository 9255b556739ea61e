"""Verdicts written back as GitHub and GitLab statuses (issue 12, acceptance 4).

The bodies are validated against stored copies of the providers' own descriptions: GitHub's REST
description (tests/fixtures/github/, copied from github/rest-api-description) and GitLab's documented
commit-status attributes (tests/fixtures/gitlab/). The receiver is a real HTTP server on 127.0.0.1 that
fails first; the outbox retries and the attempt log shows both tries.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.utils import timezone

from alerts import services, statuses
from alerts.models import Delivery, DeliveryStatus, StatusWriteback
from alerts.services.writeback import _deploy_ref
from deployments.services import deploy_processed_mark, deploy_record
from metrics.impact.models import ImpactReport
from tests.receiver import Receiver, Reply
from tracker import crypto
from tracker.models import AuditLog

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
GITHUB_TOKEN = "ghp_exampleexampleexampleexample0001"
GITLAB_TOKEN = "glpat-example-example-0001"
SHA = "9f2c1e0a5b7d4c3e2f1a0b9c8d7e6f5a4b3c2d1e"


def github_schema(name: str) -> dict:
    return yaml.safe_load((FIXTURES / "github" / f"{name}.request.yaml").read_text())


def gitlab_schema() -> dict:
    return json.loads((FIXTURES / "gitlab" / "commit-status.request.json").read_text())


def assert_valid(body: dict, schema: dict) -> None:
    jsonschema.validate(body, schema)
    # GitHub's schemas allow any extra key; what we send must still be a key GitHub documents.
    assert set(body) <= set(schema["properties"]), set(body) - set(schema["properties"])


def record(project, **fields):
    fields = {"service": "fraud-scorer", "environment": "production", "version": "2026.11.3", **fields}
    deploy, _ = deploy_record(project=project, commit_sha=SHA, ref="main", **fields)
    return deploy


def judge(deploy, verdict: str, score: float | None, *, final: bool) -> None:
    ImpactReport.objects.update_or_create(
        deploy=deploy, defaults={"verdict": verdict, "score": score, "final": final, "computed_at": timezone.now()}
    )


def writeback(project, provider: str, url: str, repository: str, token: str) -> StatusWriteback:
    return services.status_writeback_set(
        project=project, provider=provider, api_url=url, token=token, repositories={"fraud-scorer": repository}
    )


def send_all(now) -> None:
    for delivery_id in Delivery.objects.filter(status="pending", next_attempt_at__lte=now).values_list("pk", flat=True):
        services.delivery_attempt(delivery_id=delivery_id, now=now)


def test_a_github_deployment_gets_a_deployment_status_that_a_failing_receiver_gets_by_retry(project) -> None:
    deploy = record(project, external_id="github-deployment-1234567")
    with Receiver([Reply(status=502, body=b"bad gateway")]) as receiver:
        writeback(project, "github", receiver.url(""), "acme/fraud-scorer", GITHUB_TOKEN)
        judge(deploy, "degraded", 60.0, final=False)
        now = timezone.now()
        [delivery] = services.statuses_write(deploy_id=deploy.pk, now=now)
        first = services.delivery_attempt(delivery_id=delivery.pk, now=now)
        assert first.status_code == 502 and first.retry_at is not None
        second = services.delivery_attempt(delivery_id=delivery.pk, now=first.retry_at)
        requests = receiver.wait_for(2)
    assert second.status_code == 200
    assert [a.status_code for a in delivery.attempt_log.all()] == [502, 200]
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.DELIVERED
    assert requests[0].body == requests[1].body  # the retry sends the same status
    request = requests[1]
    assert request.path == "/repos/acme/fraud-scorer/deployments/1234567/statuses"
    assert request.headers["authorization"] == f"Bearer {GITHUB_TOKEN}"
    assert request.headers["x-github-api-version"] == "2022-11-28"
    body = json.loads(request.body)
    assert_valid(body, github_schema("create-deployment-status"))
    assert body["state"] == "failure"
    assert len(body["description"]) <= 140  # GitHub's documented maximum
    assert "degraded" in body["description"] and "60" in body["description"]
    assert body["log_url"].endswith(f"/alpha/deploys/{deploy.pk}/")
    assert body["auto_inactive"] is False


def test_a_deploy_with_only_a_commit_gets_a_commit_status_per_environment(project) -> None:
    deploy = record(project, environment="staging")
    with Receiver() as receiver:
        writeback(project, "github", receiver.url(""), "acme/fraud-scorer", GITHUB_TOKEN)
        judge(deploy, "healthy", 100.0, final=True)
        services.statuses_write(deploy_id=deploy.pk)
        send_all(timezone.now())
        [request] = receiver.wait_for(1)
    assert request.path == f"/repos/acme/fraud-scorer/statuses/{SHA}"
    body = json.loads(request.body)
    assert_valid(body, github_schema("create-commit-status"))
    assert body == {
        "state": "success",
        "target_url": body["target_url"],
        "description": "Deploy Tracker: healthy, score 100 (2026.11.3)",
        "context": "deploy-tracker/staging",
    }
    assert body["target_url"].endswith(f"/alpha/deploys/{deploy.pk}/")


def test_a_gitlab_commit_status_follows_the_documented_api(project) -> None:
    deploy = record(project)
    with Receiver([Reply(status=503), Reply(status=201, body=b"{}")]) as receiver:
        writeback(project, "gitlab", receiver.url("/api/v4"), "data-science/fraud-scorer", GITLAB_TOKEN)
        judge(deploy, "insufficient_data", None, final=True)
        now = timezone.now()
        [delivery] = services.statuses_write(deploy_id=deploy.pk, now=now)
        first = services.delivery_attempt(delivery_id=delivery.pk, now=now)
        services.delivery_attempt(delivery_id=delivery.pk, now=first.retry_at)
        requests = receiver.wait_for(2)
    assert [a.status_code for a in delivery.attempt_log.all()] == [503, 201]
    request = requests[1]
    assert request.path == f"/api/v4/projects/data-science%2Ffraud-scorer/statuses/{SHA}"
    assert request.headers["private-token"] == GITLAB_TOKEN
    body = json.loads(request.body)
    jsonschema.validate(body, gitlab_schema())
    assert body["state"] == "failed" and body["ref"] == "main" and body["name"] == "deploy-tracker/production"


def test_every_verdict_gives_bodies_the_providers_accept(project) -> None:
    """Every state the write-back can produce, against all three stored descriptions."""
    deploys = {
        "github_deployment": record(project, version="1", external_id="github-deployment-77"),
        "github_commit": record(project, version="2", environment="staging"),
    }
    StatusWriteback.objects.all().delete()
    seen = set()
    for verdict, score, final in [
        ("pending", None, False),
        ("healthy", 98.0, False),
        ("healthy", 98.0, True),
        ("improved", 100.0, True),
        ("marginal", 80.0, True),
        ("degraded", 50.0, True),
        ("insufficient_data", None, True),
    ]:
        for deploy in deploys.values():
            ref, judged = _deploy_ref(deploy), statuses.Verdict(verdict, score, final)
            github = statuses.github_request(ref, judged, repository="acme/x", context="deploy-tracker")
            if github is None:  # a deployment status waits for a decided verdict
                assert deploy.external_id and statuses.state_of(judged) == "pending"
                continue
            name = "create-deployment-status" if "/deployments/" in github.path else "create-commit-status"
            assert_valid(github.body, github_schema(name))
            gitlab = statuses.gitlab_request(ref, judged, project="acme/x", context="deploy-tracker")
            jsonschema.validate(gitlab.body, gitlab_schema())
            seen |= {github.body["state"], gitlab.body["state"]}
    assert seen == {"pending", "success", "failure", "error", "failed"}


def test_a_github_deployment_keeps_its_own_state_until_the_verdict_is_decided(project) -> None:
    deploy = record(project, external_id="github-deployment-99")
    writeback(project, "github", "https://93.184.215.14", "acme/fraud-scorer", GITHUB_TOKEN)
    assert services.statuses_write(deploy_id=deploy.pk) == []  # pending: the deployment stays as GitHub has it
    judge(deploy, "healthy", 100.0, final=False)
    assert services.statuses_write(deploy_id=deploy.pk) == []
    judge(deploy, "healthy", 100.0, final=True)
    [delivery] = services.statuses_write(deploy_id=deploy.pk)
    assert delivery.payload["state"] == "success" and delivery.request_path.endswith("/deployments/99/statuses")


def test_a_status_is_written_only_when_the_verdict_changes(project) -> None:
    deploy = record(project)
    writeback(project, "github", "https://93.184.215.14", "acme/fraud-scorer", GITHUB_TOKEN)
    assert [d.payload["state"] for d in services.statuses_write(deploy_id=deploy.pk)] == ["pending"]
    assert services.statuses_write(deploy_id=deploy.pk) == []  # a duplicate task, or a report that changed nothing
    judge(deploy, "degraded", 50.0, final=False)
    assert [d.payload["state"] for d in services.statuses_write(deploy_id=deploy.pk)] == ["failure"]
    judge(deploy, "degraded", 50.0, final=True)
    assert [d.payload["state"] for d in services.statuses_write(deploy_id=deploy.pk)] == ["failure"]  # now final
    assert services.statuses_write(deploy_id=deploy.pk) == []


def test_a_processed_deploy_and_a_new_report_reach_the_write_back_through_the_receivers(
    project, django_capture_on_commit_callbacks
) -> None:
    writeback(project, "github", "https://93.184.215.14", "acme/fraud-scorer", GITHUB_TOKEN)
    deploy = record(project)
    with django_capture_on_commit_callbacks(execute=True):
        deploy_processed_mark(deploy_id=deploy.pk)
    assert [d.payload["state"] for d in Delivery.objects.filter(deploy=deploy)] == ["pending"]


def test_a_service_without_a_repository_and_a_turned_off_write_back_send_nothing(project) -> None:
    other = record(project, service="churn-model")
    writeback(project, "github", "https://93.184.215.14", "acme/fraud-scorer", GITHUB_TOKEN)
    assert services.statuses_write(deploy_id=other.pk) == []
    deploy = record(project, version="2")
    services.status_writeback_set(
        project=project, provider="github", enabled=False, repositories={"fraud-scorer": "acme/fraud-scorer"}
    )
    assert services.statuses_write(deploy_id=deploy.pk) == []


def test_the_token_is_encrypted_write_only_and_kept_when_left_out(api, project) -> None:
    # A GitHub Enterprise address (the default, api.github.com, does not resolve on the test machine).
    body = {"token": GITHUB_TOKEN, "repositories": {"fraud-scorer": "acme/fraud-scorer"}}
    response = api.put(
        "/api/v1/status-writeback/github", body | {"api_url": "https://93.184.215.14/api/v3/"}, format="json"
    )
    assert response.status_code == 200, response.content
    answer = response.json()
    assert answer["has_token"] is True and "token" not in answer
    assert answer["api_url"] == "https://93.184.215.14/api/v3" and answer["enabled"] is True
    stored = StatusWriteback.objects.get(project=project)
    assert GITHUB_TOKEN not in stored.token_encrypted and crypto.decrypt(stored.token_encrypted) == GITHUB_TOKEN
    assert GITHUB_TOKEN not in json.dumps(list(AuditLog.objects.values("details")))
    response = api.put("/api/v1/status-writeback/github", {"repositories": {}, "enabled": False}, format="json")
    assert response.status_code == 200 and response.json()["has_token"] is True
    assert crypto.decrypt(StatusWriteback.objects.get(project=project).token_encrypted) == GITHUB_TOKEN
    got = api.get("/api/v1/status-writeback/github").json()
    assert got["enabled"] is False and got["repositories"] == {} and "token" not in got


@pytest.mark.parametrize(
    ("provider", "body", "field"),
    [
        ("github", {"repositories": {"svc": "acme/x"}, "api_url": "https://93.184.215.14"}, "token"),
        ("github", {"token": "t", "repositories": {"svc": "not a repo"}}, "repositories"),
        ("gitlab", {"token": "t", "repositories": {"svc": "../etc"}}, "repositories"),
        ("github", {"token": "t", "repositories": {}, "api_url": "http://169.254.169.254"}, "api_url"),
        ("github", {"token": "t", "repositories": {}, "context": "a b"}, "context"),
        ("github", {"token": "t", "repositories": {}, "extra": 1}, "extra"),
    ],
)
def test_bad_settings_are_a_clear_400_and_store_nothing(api, provider, body, field) -> None:
    response = api.put(f"/api/v1/status-writeback/{provider}", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert not StatusWriteback.objects.exists()


def test_an_unknown_provider_and_an_unconfigured_one_are_404(api) -> None:
    assert api.get("/api/v1/status-writeback/bitbucket").json()["error"]["code"] == "not_found"
    assert api.put("/api/v1/status-writeback/bitbucket", {"repositories": {}}, format="json").status_code == 404
    assert api.get("/api/v1/status-writeback/gitlab").status_code == 404


def test_the_settings_page_shows_the_write_back_without_its_token(client, alice, project) -> None:
    writeback(project, "gitlab", "https://93.184.215.14/api/v4", "group/fraud-scorer", GITLAB_TOKEN)
    client.force_login(alice)
    page = client.get(f"/{project.slug}/settings/").content.decode()
    assert "Verdicts on GitHub and GitLab" in page and "93.184.215.14" in page
    assert GITLAB_TOKEN not in page


def test_a_retry_after_the_window_is_not_sent_twice_when_it_was_delivered(project) -> None:
    deploy = record(project)
    with Receiver() as receiver:
        writeback(project, "github", receiver.url(""), "acme/fraud-scorer", GITHUB_TOKEN)
        now = timezone.now()
        [delivery] = services.statuses_write(deploy_id=deploy.pk, now=now)
        services.delivery_attempt(delivery_id=delivery.pk, now=now)
        assert services.delivery_attempt(delivery_id=delivery.pk, now=now + timedelta(hours=1)) is None
        assert len(receiver.wait_for(1)) == 1
