"""Channel bodies (alerts/payloads.py) against the documented shapes stored in tests/fixtures/alerts/."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from alerts import payloads
from alerts.payloads import AlertInfo, DeployInfo, Message

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "alerts"
NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
DEPLOY = DeployInfo(
    id="41",
    version="2026.11.3",
    url="https://tracker.example/acme/deploys/41/",
    model_name="fraud-gbm",
    model_version="41",
    author="dana",
    commit_sha="9f2c1e0",
    went_out_at=NOW - timedelta(minutes=12),
)


def alert_info(
    i: int = 1, *, title: str = "Input drift: 4 of 6 features drifted (67%, threshold 50%)", **kw
) -> AlertInfo:
    fields = {
        "id": str(i),
        "fingerprint": f"fp{i}",
        "rule": "drift-share",
        "kind": "drift_share",
        "severity": "error",
        "status": "firing",
        "title": title,
        "url": f"https://tracker.example/acme/alerts/#alert-{i}",
        "started_at": NOW - timedelta(minutes=2),
        "deploy": DEPLOY,
        "numbers": {"drift_share": 0.6667},
    }
    return AlertInfo(**{**fields, **kw})


def message(*alerts: AlertInfo, action: str = "trigger", reason: str = "firing", resolved=()) -> Message:
    return Message(
        project="acme",
        service="fraud-scorer",
        environment="production",
        group_key="dt-0123456789abcdef",
        reason=reason,
        event_action=action,
        alerts_url="https://tracker.example/acme/alerts/",
        sent_at=NOW,
        alerts=tuple(alerts),
        resolved=tuple(resolved),
    )


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


# --- PagerDuty ---------------------------------------------------------------------------------------


def check_pagerduty_event(event: dict[str, Any], documented: dict[str, Any]) -> None:
    """Our event uses only documented keys, with the documented types and limits."""
    assert set(event) <= set(documented), set(event) - set(documented)
    assert {"routing_key", "event_action"} <= set(event)
    assert event["event_action"] in ("trigger", "acknowledge", "resolve")
    assert len(event["dedup_key"]) <= 255
    for key, value in event.items():
        assert type(value) is type(documented[key]), key
    if "payload" in event:
        body, reference = event["payload"], documented["payload"]
        assert set(body) <= set(reference)
        assert {"summary", "source", "severity"} <= set(body)
        assert body["severity"] in ("critical", "error", "warning", "info")
        assert 0 < len(body["summary"]) <= 1024
        assert isinstance(body["custom_details"], dict)
        for link in event["links"]:
            assert set(link) <= {"href", "text"} and link["href"].startswith("https://")


def test_it_builds_a_pagerduty_trigger_in_the_documented_shape() -> None:
    event = payloads.pagerduty_body(message(alert_info()), routing_key="R" * 32, client_url="https://tracker.example")
    check_pagerduty_event(event, load("pagerduty_trigger.json"))
    assert event["dedup_key"] == "dt-0123456789abcdef"
    assert event["payload"]["severity"] == "error"
    assert event["payload"]["source"] == "fraud-scorer/production"
    assert event["payload"]["summary"] == (
        "[FIRING] fraud-scorer/production: Input drift: 4 of 6 features drifted (67%, threshold 50%) — "
        "deploy 2026.11.3, model fraud-gbm v41, by dana, went out 12 minutes ago"
    )
    assert event["links"][0] == {"href": DEPLOY.url, "text": "Deploy 2026.11.3 (rollback from this page)"}
    assert event["payload"]["custom_details"]["alerts"][0]["numbers"] == {"drift_share": 0.6667}


@pytest.mark.parametrize(
    ("action", "fixture"), [("acknowledge", "pagerduty_acknowledge.json"), ("resolve", "pagerduty_resolve.json")]
)
def test_it_sends_acknowledge_and_resolve_with_the_triggers_dedup_key(action: str, fixture: str) -> None:
    trigger = payloads.pagerduty_body(message(alert_info()), routing_key="k")
    follow_up = payloads.pagerduty_body(message(alert_info(), action=action), routing_key="k")
    documented = load(fixture)
    assert set(follow_up) == set(documented)
    assert follow_up["event_action"] == action
    assert follow_up["dedup_key"] == trigger["dedup_key"]


def test_it_cuts_the_pagerduty_summary_to_1024_characters() -> None:
    event = payloads.pagerduty_body(message(alert_info(title="x" * 5000)), routing_key="k")
    summary = event["payload"]["summary"]
    assert len(summary) == 1024
    assert summary.endswith("…")


def test_it_takes_the_highest_severity_of_the_group() -> None:
    event = payloads.pagerduty_body(
        message(alert_info(1, severity="warning"), alert_info(2, severity="critical")), routing_key="k"
    )
    assert event["payload"]["severity"] == "critical"


# --- Slack -------------------------------------------------------------------------------------------------


def check_slack_message(body: dict[str, Any]) -> None:
    """Block Kit's documented rules for the block types an incoming webhook message may carry."""
    assert set(body) <= {"text", "blocks"} and isinstance(body["text"], str)
    blocks = body["blocks"]
    assert 0 < len(blocks) <= 50
    for block in blocks:
        kind = block["type"]
        assert kind in ("section", "header", "actions", "context", "divider"), kind
        if kind == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) <= 150
        elif kind == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert block["text"]["type"] in ("mrkdwn", "plain_text") and 0 < len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
        elif kind == "actions":
            assert 0 < len(block["elements"]) <= 25
            for button in block["elements"]:
                assert button["type"] == "button" and button["text"]["type"] == "plain_text"
                assert len(button["text"]["text"]) <= 75 and len(button["url"]) <= 3000
        elif kind == "context":
            assert 0 < len(block["elements"]) <= 10


def test_the_slack_checker_accepts_slacks_own_documented_example() -> None:
    check_slack_message(load("slack_incoming_webhook.json"))


def test_it_builds_a_slack_message_with_a_text_fallback_and_blocks() -> None:
    body = payloads.slack_body(message(alert_info()))
    check_slack_message(body)
    assert body["text"].startswith("[FIRING] fraud-scorer/production: Input drift")
    assert body["blocks"][0]["text"]["text"] == "FIRING: fraud-scorer in production"
    deploy_text = body["blocks"][1]["text"]["text"]
    assert deploy_text == (
        f"*Suspect deploy* <{DEPLOY.url}|2026.11.3>, model fraud-gbm v41, by dana, went out 12 minutes ago"
    )
    buttons = body["blocks"][-2]["elements"]
    assert [b["url"] for b in buttons] == [DEPLOY.url, "https://tracker.example/acme/alerts/"]


def test_it_escapes_slack_control_characters_in_titles() -> None:
    body = payloads.slack_body(message(alert_info(title="p <0.05 & <!channel>")))
    texts = json.dumps(body["blocks"])
    assert "<!channel>" not in texts
    assert "p &lt;0.05 &amp; &lt;!channel&gt;" in texts


def test_it_escapes_slack_control_characters_in_the_top_level_text_too() -> None:
    """`text` is the notification and the fallback; Slack reads it as mrkdwn, so `<!channel>` there pings."""
    body = payloads.slack_body(message(alert_info(title="p <0.05 & <!channel> > 3")))
    assert "<!channel>" not in body["text"] and "<" not in body["text"] and ">" not in body["text"]
    assert "p &lt;0.05 &amp; &lt;!channel&gt; &gt; 3" in body["text"]
    assert "&amp;lt;" not in body["text"]  # escaped once, not twice


def test_it_keeps_a_page_of_forty_alerts_within_slacks_block_limit() -> None:
    body = payloads.slack_body(message(*(alert_info(i) for i in range(40))))
    check_slack_message(body)
    assert "and 30 more on the alerts page" in json.dumps(body)


def test_it_lists_resolved_alerts_in_a_resolved_slack_message() -> None:
    done = replace(alert_info(), status="resolved")
    body = payloads.slack_body(message(action="resolve", reason="resolved", resolved=[done]))
    check_slack_message(body)
    assert body["blocks"][0]["text"]["text"] == "RESOLVED: fraud-scorer in production"
    assert ":white_check_mark:" in json.dumps(body)


# --- generic webhook and e-mail -----------------------------------------------------------------------


def test_it_builds_a_generic_webhook_body_that_explains_itself() -> None:
    body = payloads.webhook_body(message(alert_info()))
    assert json.loads(json.dumps(body)) == body
    assert (body["type"], body["status"], body["severity"]) == ("alert.firing", "firing", "error")
    assert body["deploy"] == {
        "id": "41",
        "version": "2026.11.3",
        "commit_sha": "9f2c1e0",
        "author": "dana",
        "model": {"name": "fraud-gbm", "version": "41"},
        "went_out_at": "2026-11-28T09:18:00+00:00",
        "url": DEPLOY.url,
    }
    assert body["alerts"][0]["fingerprint"] == "fp1"
    assert body["links"] == {"deploy": DEPLOY.url, "alerts": "https://tracker.example/acme/alerts/"}


def test_it_writes_an_email_with_the_deploy_and_the_rollback_page() -> None:
    subject, text = payloads.email_message(message(alert_info()))
    assert subject.startswith("[FIRING] fraud-scorer/production")
    assert f"deploy page (rollback button): {DEPLOY.url}" in text
    assert "https://tracker.example/acme/alerts/#alert-1" in text


@pytest.mark.parametrize(
    ("delta", "words"),
    [
        (timedelta(seconds=45), "45 seconds ago"),
        (timedelta(minutes=12), "12 minutes ago"),
        (timedelta(hours=3, minutes=5), "3 h 5 min ago"),
        (timedelta(days=3, hours=2), "3 days ago"),
    ],
)
def test_it_says_how_long_ago_the_deploy_went_out(delta: timedelta, words: str) -> None:
    assert payloads.age(NOW - delta, NOW) == words


def test_a_test_notification_says_so_on_every_channel() -> None:
    test = replace(message(), reason="test")
    assert payloads.slack_body(test)["blocks"][0]["text"]["text"].startswith("TEST:")
    event = payloads.pagerduty_body(test, routing_key="k")
    check_pagerduty_event(event, load("pagerduty_trigger.json"))
    assert event["payload"]["summary"].startswith("[TEST] Deploy Tracker test notification for project acme")
    assert payloads.webhook_body(test)["type"] == "alert.test"
