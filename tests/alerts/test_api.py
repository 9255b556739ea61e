"""Alerts API: scopes, project scoping, error shape, write-only secrets, SSRF refusal at save time."""

from __future__ import annotations

import pytest

from alerts import services
from alerts.models import Alert, Channel, Delivery
from alerts.rules import ColumnFact, DeployFacts
from deployments.services import deploy_record
from tests.helpers import client_for, error_code

pytestmark = pytest.mark.django_db

PUBLIC_HOOK = "https://93.184.215.14/hooks/deploy-tracker"


@pytest.fixture
def alert(project) -> Alert:
    deploy, _ = deploy_record(project=project, service="fraud-scorer", environment="production", version="7")
    columns = tuple(ColumnFact(f"f{i}", "feature", "drifted", 2.0) for i in range(3))
    [alert] = services.alerts_evaluate_deploy(deploy=deploy, facts=DeployFacts(columns, has_drift_report=True))
    return alert


def test_it_lists_alerts_with_their_fingerprint_and_deploy(api, alert) -> None:
    response = api.get("/api/v1/alerts?status=open")
    assert response.status_code == 200
    [row] = response.json()["results"]
    assert row["fingerprint"] == alert.fingerprint
    assert row["deploy"] == {"id": alert.deploy_id, "version": "7"}
    assert row["status"] == "firing"
    assert row["url"].endswith(f"/alpha/alerts/#alert-{alert.pk}")


def test_it_refuses_an_unknown_filter_in_the_error_shape(api, alert) -> None:
    response = api.get("/api/v1/alerts?status=burning")
    assert response.status_code == 400
    assert error_code(response) == "invalid"
    assert "status" in response.json()["error"]["fields"]


def test_it_acknowledges_then_resolves_and_refuses_a_second_resolve(api, alert) -> None:
    assert api.post(f"/api/v1/alerts/{alert.pk}/ack").json()["status"] == "acknowledged"
    assert api.post(f"/api/v1/alerts/{alert.pk}/resolve").json()["status"] == "resolved"
    again = api.post(f"/api/v1/alerts/{alert.pk}/resolve")
    assert again.status_code == 409
    assert error_code(again) == "alert_resolved"
    assert alert.project.audit_entries.filter(action="alert.acknowledged").exists()


def test_a_read_only_token_cannot_acknowledge(project, make_token, alert) -> None:
    reader = client_for(make_token(project, ["read"]))
    response = reader.post(f"/api/v1/alerts/{alert.pk}/ack")
    assert response.status_code == 403
    assert error_code(response) == "insufficient_scope"
    alert.refresh_from_db()
    assert alert.status == "firing"


def test_another_projects_token_sees_no_alerts_and_cannot_touch_them(other_api, alert) -> None:
    assert other_api.get("/api/v1/alerts").json()["results"] == []
    assert other_api.post(f"/api/v1/alerts/{alert.pk}/ack").status_code == 404


def test_it_creates_a_webhook_channel_and_shows_its_secret_once(api) -> None:
    response = api.post("/api/v1/channels", {"name": "ci-hook", "kind": "webhook", "url": PUBLIC_HOOK}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["signing_secret"].startswith("whsec_")
    assert body["url_hint"] == "https://93.184.215.14/…"
    shown = api.get(f"/api/v1/channels/{body['id']}").json()
    assert "signing_secret" not in shown and "secret" not in shown and "hooks" not in str(shown)
    assert shown["has_secret"] is True


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.215.14/hook",
        "file:///etc/passwd",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://0.0.0.0/hook",
        "https://[::1]/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.0.1/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://2130706433/hook",
    ],
)
def test_it_refuses_an_internal_url_when_a_channel_is_saved(api, settings, url) -> None:
    settings.OUTBOUND_ALLOW_HTTP = False
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    response = api.post("/api/v1/channels", {"name": "evil", "kind": "slack", "url": url}, format="json")
    assert response.status_code == 400, response.content
    assert error_code(response) == "invalid"
    assert "url" in response.json()["error"]["fields"]
    assert not Channel.objects.exists()


def test_it_refuses_an_internal_url_when_a_channel_is_changed(api, project, settings) -> None:
    channel, _ = services.channel_create(project=project, name="hook", kind="webhook", url=PUBLIC_HOOK)
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    response = api.patch(f"/api/v1/channels/{channel.pk}", {"url": "https://10.0.0.8/x"}, format="json")
    assert response.status_code == 400
    assert error_code(response) == "invalid"


def test_it_refuses_unknown_fields_and_missing_settings(api) -> None:
    assert error_code(
        api.post("/api/v1/channels", {"name": "x", "kind": "webhook", "colour": "red"}, format="json")
    ) == ("invalid")
    missing = api.post("/api/v1/channels", {"name": "x", "kind": "pagerduty"}, format="json")
    assert missing.status_code == 400 and "secret" in missing.json()["error"]["fields"]
    email = api.post("/api/v1/channels", {"name": "m", "kind": "email", "email_to": ["not-an-address"]}, format="json")
    assert email.status_code == 400 and "email_to" in email.json()["error"]["fields"]


def test_only_an_admin_token_manages_channels(project, make_token) -> None:
    deployer = client_for(make_token(project, ["read", "rollback", "ingest"]))
    response = deployer.post("/api/v1/channels", {"name": "x", "kind": "webhook", "url": PUBLIC_HOOK}, format="json")
    assert response.status_code == 403
    assert deployer.get("/api/v1/channels").status_code == 403
    assert not Channel.objects.exists()


def test_send_test_queues_one_delivery_through_the_outbox(api, project) -> None:
    channel, _ = services.channel_create(project=project, name="hook", kind="webhook", url=PUBLIC_HOOK)
    response = api.post(f"/api/v1/channels/{channel.pk}/test")
    assert response.status_code == 202
    delivery = Delivery.objects.get()
    assert delivery.reason == "test" and delivery.payload["type"] == "alert.test"
    assert response.json()["delivery"] == delivery.message_id


def test_every_project_starts_with_default_rules_and_admins_can_change_them(api, project) -> None:
    rules = api.get("/api/v1/alert-rules").json()["results"]
    assert {r["kind"] for r in rules} == {
        "drift_share",
        "column_drift",
        "prediction_drift",
        "impact_degraded",
        "critical_metric",
        "unfair",
    }
    share = next(r for r in rules if r["kind"] == "drift_share")
    changed = api.patch(f"/api/v1/alert-rules/{share['id']}", {"threshold": 0.3}, format="json")
    assert changed.json()["threshold"] == 0.3
    bad = api.patch(f"/api/v1/alert-rules/{share['id']}", {"threshold": 3}, format="json")
    assert bad.status_code == 400 and error_code(bad) == "invalid"
    column = api.post("/api/v1/alert-rules", {"key": "income", "kind": "column_drift"}, format="json")
    assert column.status_code == 400 and "column" in column.json()["error"]["fields"]
    created = api.post(
        "/api/v1/alert-rules", {"key": "income", "kind": "column_drift", "column": "income"}, format="json"
    )
    assert created.status_code == 201


def test_disabling_a_rule_resolves_its_open_alerts(api, alert) -> None:
    response = api.patch(f"/api/v1/alert-rules/{alert.rule_id}", {"enabled": False}, format="json")
    assert response.status_code == 200
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_reason) == ("resolved", "rule_removed")


def test_a_webhook_secret_under_24_bytes_is_a_clear_400_and_an_unpadded_one_is_taken(api) -> None:
    import base64

    short = "whsec_" + base64.b64encode(b"x" * 16).decode()
    body = {"name": "hook", "kind": "webhook", "url": "https://93.184.215.14/hook", "secret": short}
    response = api.post("/api/v1/channels", body, format="json")
    assert response.status_code == 400
    assert "at least 24 bytes" in response.json()["error"]["fields"]["secret"][0]
    unpadded = "whsec_" + base64.b64encode(b"y" * 25).decode().rstrip("=")
    response = api.post("/api/v1/channels", body | {"secret": unpadded}, format="json")
    assert response.status_code == 201, response.content
