"""PagerDuty: production deploys as change events, and a channel test that closes the incident it opens.

Change events are validated against the request schema of `/v2/change/enqueue` in PagerDuty's Events API v2
OpenAPI description (tests/fixtures/alerts/pagerduty_change_event.schema.json); the receiver is a real HTTP
server on 127.0.0.1.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from django.utils import timezone

from alerts import services
from alerts.models import Channel, Delivery
from deployments.services import deploy_processed_mark, deploy_record
from tests.receiver import Receiver, Reply

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "alerts"
ROUTING_KEY = "R0UTINGKEY0123456789abcdefABCDEF"


def change_schema() -> dict:
    return json.loads((FIXTURES / "pagerduty_change_event.schema.json").read_text())


def pagerduty(project, *, change_events: bool = True, name: str = "pd"):
    channel, _ = services.channel_create(
        project=project, name=name, kind="pagerduty", secret=ROUTING_KEY, change_events=change_events
    )
    return channel


def deploy(project, environment: str = "production", version: str = "2026.11.3"):
    recorded, _ = deploy_record(
        project=project,
        service="fraud-scorer",
        environment=environment,
        version=version,
        author="dana",
        commit_sha="9f2c1e0",
        model_name="fraud-gbm",
        model_version="41",
        ci_url="https://ci.example/run/8812",
    )
    return recorded


def send_all(now) -> None:
    for delivery_id in Delivery.objects.filter(status="pending", next_attempt_at__lte=now).values_list("pk", flat=True):
        services.delivery_attempt(delivery_id=delivery_id, now=now)


def test_a_production_deploy_reaches_pagerduty_as_a_change_event_by_retry(project, settings) -> None:
    channel = pagerduty(project)
    pagerduty(project, change_events=False, name="pages-only")
    release = deploy(project)
    with Receiver([Reply(status=500)]) as receiver:
        settings.PAGERDUTY_CHANGE_URL = receiver.url("/v2/change/enqueue")
        now = timezone.now()
        [delivery] = services.change_events_send(deploy_id=release.pk, now=now)
        first = services.delivery_attempt(delivery_id=delivery.pk, now=now)
        services.delivery_attempt(delivery_id=delivery.pk, now=first.retry_at)
        requests = receiver.wait_for(2)
    assert delivery.channel_id == channel.pk
    assert [a.status_code for a in delivery.attempt_log.all()] == [500, 200]
    assert "routing_key" not in Delivery.objects.get(pk=delivery.pk).payload  # added at send time only
    assert requests[1].path == "/v2/change/enqueue"
    body = json.loads(requests[1].body)
    jsonschema.validate(body, change_schema())
    assert body["routing_key"] == ROUTING_KEY
    assert "2026.11.3" in body["payload"]["summary"] and "fraud-scorer" in body["payload"]["summary"]
    assert body["payload"]["source"] == "fraud-scorer/production"
    assert body["links"][0]["href"].endswith(f"/alpha/deploys/{release.pk}/")
    assert "event_action" not in body and "dedup_key" not in body  # a change event pages no one


def test_only_production_deploys_and_only_once_each(project) -> None:
    pagerduty(project)
    assert services.change_events_send(deploy_id=deploy(project, "staging").pk) == []
    release = deploy(project)
    assert len(services.change_events_send(deploy_id=release.pk)) == 1
    assert services.change_events_send(deploy_id=release.pk) == []  # a duplicate task


def test_a_processed_deploy_queues_its_change_event_through_the_receivers(
    project, django_capture_on_commit_callbacks
) -> None:
    pagerduty(project)
    release = deploy(project)
    with django_capture_on_commit_callbacks(execute=True):
        deploy_processed_mark(deploy_id=release.pk)
    assert Delivery.objects.filter(deploy=release, reason="change").count() == 1


def test_change_events_are_a_pagerduty_option_only(api) -> None:
    body = {"name": "hook", "kind": "slack", "url": "https://93.184.215.14/x", "change_events": True}
    response = api.post("/api/v1/channels", body, format="json")
    assert response.status_code == 400
    assert "change_events" in response.json()["error"]["fields"]
    body = {"name": "pd", "kind": "pagerduty", "secret": ROUTING_KEY, "change_events": True}
    response = api.post("/api/v1/channels", body, format="json")
    assert response.status_code == 201 and response.json()["change_events"] is True
    channel_id = response.json()["id"]
    response = api.patch(f"/api/v1/channels/{channel_id}", {"change_events": False}, format="json")
    assert response.json()["change_events"] is False


def test_a_pagerduty_channel_test_triggers_then_resolves_its_incident(project, settings) -> None:
    channel = pagerduty(project, change_events=False)
    with Receiver([Reply(status=503)]) as receiver:
        settings.PAGERDUTY_EVENTS_URL = receiver.url("/v2/enqueue")
        now = timezone.now()
        trigger = services.channel_test(channel=channel, now=now)
        first = services.delivery_attempt(delivery_id=trigger.pk, now=now)
        # Nothing resolves an incident that was never opened: no resolve before the trigger is in.
        assert Delivery.objects.filter(channel=channel).count() == 1
        services.delivery_attempt(delivery_id=trigger.pk, now=first.retry_at)
        send_all(first.retry_at)
        requests = receiver.wait_for(3)
    events = [json.loads(r.body) for r in requests]
    assert [e["event_action"] for e in events] == ["trigger", "trigger", "resolve"]
    assert events[2] == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": events[1]["dedup_key"]}
    assert list(Delivery.objects.filter(channel=channel).values_list("status", flat=True)) == ["delivered"] * 2


def test_an_admin_turns_change_events_on_from_the_settings_page(client, alice, project) -> None:
    client.force_login(alice)
    form = {"name": "pd", "kind": "pagerduty", "secret": ROUTING_KEY, "change_events": "on"}
    assert client.post("/alpha/alerts/channels/", form).status_code == 200
    assert Channel.objects.get(name="pd").change_events is True
    refused = client.post(
        "/alpha/alerts/channels/", form | {"name": "mail", "kind": "email", "email_to": "a@b.example"}
    )
    assert "only a PagerDuty channel sends change events" in refused.content.decode()
    assert not Channel.objects.filter(name="mail").exists()
