"""The demo receiver: signed alert deliveries and rollback requests of the demo project, nothing else."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts import services as alert_services
from alerts.models import Channel, Delivery
from alerts.rules import ColumnFact, DeployFacts
from demo.services import demo_receiver_connect
from deployments.models import Deploy
from deployments.services import deploy_record
from rollbacks import payloads
from rollbacks.models import RollbackEndpoint
from rollbacks.services import endpoint_settings, rollback_message, rollback_request_create
from tracker import crypto, signing
from tracker.models import Project
from tracker.services import project_create

ALERT = {"type": "alert.firing", "alerts": []}


@pytest.fixture
def demo(db, settings) -> Project:
    """The demo project with its channel and rollback endpoint pointed at the receiver (no history)."""
    settings.OUTBOUND_ALLOW_HTTP, settings.OUTBOUND_ALLOWED_NETWORKS = True, ["127.0.0.0/8"]
    project = project_create(slug="demo", name="Demo")
    assert demo_receiver_connect(project=project) is None
    return project


def channel_secret(project: Project) -> str:
    return crypto.decrypt(Channel.objects.get(project=project).secret_encrypted)


def signed(secret: str, msg_id: str, body: bytes) -> dict[str, str]:
    return signing.sign_headers(secret, msg_id, body)


def post(client, url: str, body: bytes, headers: dict[str, str]):
    return client.post(url, body, content_type="application/json", headers=headers)


def test_it_accepts_the_demo_channels_signed_alert(client, demo) -> None:
    body = json.dumps(ALERT).encode()
    response = post(client, "/demo-receiver/demo/alerts", body, signed(channel_secret(demo), "msg_1", body))
    assert response.status_code == 200
    assert response.json() == {"received": "msg_1"}


def test_it_refuses_a_wrong_missing_or_stale_signature(client, demo) -> None:
    body = json.dumps(ALERT).encode()
    url = "/demo-receiver/demo/alerts"
    stale = signing.sign_headers(channel_secret(demo), "msg_1", body, now=timezone.now().timestamp() - 600)
    for headers, code in (
        (signed(signing.secret_generate(), "msg_1", body), "signature_invalid"),
        ({}, "signature_missing"),
        ({**signed(channel_secret(demo), "msg_1", body), "webhook-timestamp": "soon"}, "signature_malformed"),
        (stale, "signature_stale"),
    ):
        response = post(client, url, body, headers)
        assert response.status_code == 401, code
        assert response.json()["error"]["code"] == code
    # The rollback endpoint has its own secret: an alert channel's signature does not open it.
    refused = post(client, "/demo-receiver/demo/rollback", body, signed(channel_secret(demo), "x", body))
    assert refused.status_code == 401


def test_it_is_a_404_for_any_other_project_and_when_there_is_no_demo(client, project, settings) -> None:
    settings.OUTBOUND_ALLOW_HTTP, settings.OUTBOUND_ALLOWED_NETWORKS = True, ["127.0.0.0/8"]
    _, secret = alert_services.channel_create(
        project=project, name="own", kind="webhook", url=f"{settings.SITE_URL}/demo-receiver/alpha/alerts"
    )
    body = json.dumps(ALERT).encode()
    assert post(client, "/demo-receiver/alpha/alerts", body, signed(secret, "msg_1", body)).status_code == 404
    assert post(client, "/demo-receiver/demo/alerts", body, signed(secret, "msg_1", body)).status_code == 404
    assert client.get("/demo-receiver/demo/alerts").status_code in (404, 405)


def rollback_world(project: Project):
    """fraud-scorer in production: 1.0 went out two hours ago, 1.1 an hour ago; roll 1.1 back to 1.0."""
    now = timezone.now()
    deploys = []
    for version, hours in (("1.0", 2), ("1.1", 1)):
        deploy, _ = deploy_record(
            project=project,
            service="fraud-scorer",
            environment="production",
            version=version,
            commit_sha=version.replace(".", "") * 10,
            finished_at=now - timedelta(hours=hours),
        )
        deploys.append(deploy)
    rollback = rollback_request_create(deploy=deploys[1], target=deploys[0], reason="approvals fell")
    endpoint = RollbackEndpoint.objects.get(project=project)
    body = payloads.encode_body(payloads.build_body(endpoint_settings(endpoint), rollback_message(rollback=rollback)))
    return rollback, body, signed(crypto.decrypt(endpoint.secret_encrypted), str(rollback.pk), body)


def test_a_signed_rollback_request_is_carried_out_as_ci_would(client, demo, django_capture_on_commit_callbacks) -> None:
    rollback, body, headers = rollback_world(demo)
    for _ in range(2):  # a redelivered request (same webhook-id) changes nothing more
        with django_capture_on_commit_callbacks(execute=True):
            response = post(client, "/demo-receiver/demo/rollback", body, headers)
        assert response.status_code == 202
        assert response.json() == {"accepted": str(rollback.pk)}
    rollback.refresh_from_db()
    assert rollback.state == "succeeded"
    assert [c.status for c in rollback.callbacks.order_by("at", "id")] == ["accepted", "running"]
    [done] = Deploy.objects.filter(external_id=f"demo-ci-rollback-{rollback.pk}")
    assert rollback.completed_by == done and done.version == "1.0" and done.is_rollback
    assert Deploy.objects.get(version="1.1").status == "rolled_back"


def test_it_refuses_a_rollback_message_it_does_not_understand(client, demo) -> None:
    rollback, body, _ = rollback_world(demo)
    secret = crypto.decrypt(RollbackEndpoint.objects.get(project=demo).secret_encrypted)
    other = json.dumps({**json.loads(body), "type": "promotion.requested"}).encode()
    response = post(client, "/demo-receiver/demo/rollback", other, signed(secret, str(rollback.pk), other))
    assert response.status_code == 400
    rollback.refresh_from_db()
    assert rollback.state == "requested" and not rollback.callbacks.exists()


@pytest.mark.django_db(transaction=True)
def test_an_alert_delivery_to_the_demo_receiver_succeeds_over_http(live_server, settings) -> None:
    settings.SITE_URL = live_server.url
    settings.OUTBOUND_ALLOW_HTTP, settings.OUTBOUND_ALLOWED_NETWORKS = True, ["127.0.0.0/8"]
    project = project_create(slug="demo", name="Demo")
    assert demo_receiver_connect(project=project) is None
    deploy, _ = deploy_record(project=project, service="fraud-scorer", environment="production", version="1")
    columns = tuple(ColumnFact(f"f{i}", "feature", "drifted", 2.0) for i in range(3))
    [alert] = alert_services.alerts_evaluate_deploy(deploy=deploy, facts=DeployFacts(columns, has_drift_report=True))
    later = timezone.now() + timedelta(seconds=settings.ALERT_GROUP_WAIT_SECONDS)
    [delivery] = alert_services.alert_group_flush(group_id=alert.group_id, now=later)
    attempt = alert_services.delivery_attempt(delivery_id=delivery.pk, now=later)
    assert (attempt.status_code, attempt.error) == (200, "")
    assert Delivery.objects.get(pk=delivery.pk).status == "delivered"
