"""What each channel receives for one group notification (pure: no Django, no network).

`Message` carries everything a person on call needs: the suspect deploy (version, model version,
author, how long ago it went out), what fired with its numbers, and links to the deploy page
(where the rollback button is) and the alert. Builders turn it into:

- a generic webhook JSON body (signed by the sender with Standard Webhooks headers);
- a Slack incoming-webhook body (`text` fallback + Block Kit `blocks`);
- a PagerDuty Events API v2 event (`dedup_key` = the group key, so acknowledge and resolve
  reach the incident the trigger opened);
- an e-mail subject, a plain-text and an HTML body;
- a PagerDuty change event for a production deploy.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

SEVERITY_ORDER = ("critical", "error", "warning", "info")
PAGERDUTY_SUMMARY_MAX = 1024
SLACK_HEADER_MAX = 150
SLACK_TEXT_MAX = 3000
SLACK_ALERT_BLOCKS = 10  # Slack allows 50 blocks; a page with more than ten alerts says "and N more"
CLIENT = "Deploy Tracker"


@dataclass(frozen=True)
class DeployInfo:
    id: str
    version: str
    url: str
    model_name: str = ""
    model_version: str = ""
    author: str = ""
    commit_sha: str = ""
    went_out_at: datetime | None = None
    verdict: str = ""  # the gate's verdict of the deploy when the message was built


@dataclass(frozen=True)
class DeployChange:
    """A production deploy, as a PagerDuty change event tells it."""

    service: str
    environment: str
    version: str
    url: str
    deployed_at: datetime
    commit_sha: str = ""
    author: str = ""
    model: str = ""
    ci_url: str = ""


@dataclass(frozen=True)
class AlertInfo:
    id: str
    fingerprint: str
    rule: str
    kind: str
    severity: str
    status: str  # firing, acknowledged or resolved
    title: str
    url: str
    started_at: datetime
    deploy: DeployInfo
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Message:
    project: str
    service: str
    environment: str
    group_key: str
    reason: str  # firing, update, acknowledged, resolved, repeat or test
    event_action: str  # trigger, acknowledge or resolve
    alerts_url: str
    sent_at: datetime
    alerts: tuple[AlertInfo, ...] = ()  # open: firing or acknowledged
    resolved: tuple[AlertInfo, ...] = ()

    @property
    def status(self) -> str:
        if self.event_action == "resolve":
            return "resolved"
        return "acknowledged" if self.event_action == "acknowledge" else "firing"

    @property
    def suspect(self) -> DeployInfo | None:
        """The newest deploy among the open alerts (or the resolved ones when nothing is open)."""
        deploys = [a.deploy for a in (self.alerts or self.resolved)]
        dated = [d for d in deploys if d.went_out_at is not None]
        if dated:
            return max(dated, key=lambda d: d.went_out_at)
        return deploys[0] if deploys else None

    @property
    def severity(self) -> str:
        found = {a.severity for a in (self.alerts or self.resolved)}
        return next((s for s in SEVERITY_ORDER if s in found), "warning")


def age(since: datetime | None, now: datetime) -> str:
    """How long ago a deploy went out, in the words a person reads at 3 a.m."""
    if since is None:
        return "at an unknown time"
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 90:
        return f"{seconds} seconds ago"
    minutes = seconds // 60
    if minutes < 90:
        return f"{minutes} minutes ago"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min ago"
    return f"{hours // 24} days ago"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _deploy_line(deploy: DeployInfo | None, now: datetime) -> str:
    if deploy is None:
        return "no deploy"
    model = f", model {deploy.model_name} v{deploy.model_version}" if deploy.model_name else ""
    author = f", by {deploy.author}" if deploy.author else ""
    return f"deploy {deploy.version}{model}{author}, went out {age(deploy.went_out_at, now)}"


def summary(message: Message) -> str:
    """One line naming the state, the service, what fired and the suspect deploy."""
    if message.reason == "test":
        return f"[TEST] {CLIENT} test notification for project {message.project}: this channel works"
    head = f"[{message.status.upper()}] {message.service}/{message.environment}"
    fired = message.alerts or message.resolved
    what = fired[0].title if fired else "no alerts"
    more = f" (+{len(fired) - 1} more)" if len(fired) > 1 else ""
    return f"{head}: {what}{more} — {_deploy_line(message.suspect, message.sent_at)}"


# --- generic webhook ----------------------------------------------------------------------------


def _deploy_json(deploy: DeployInfo | None) -> dict[str, Any] | None:
    if deploy is None:
        return None
    return {
        "id": deploy.id,
        "version": deploy.version,
        "commit_sha": deploy.commit_sha,
        "author": deploy.author,
        "model": {"name": deploy.model_name, "version": deploy.model_version},
        "went_out_at": deploy.went_out_at.isoformat() if deploy.went_out_at else None,
        "url": deploy.url,
    }


def _alert_json(alert: AlertInfo) -> dict[str, Any]:
    return {
        "id": alert.id,
        "fingerprint": alert.fingerprint,
        "rule": alert.rule,
        "kind": alert.kind,
        "severity": alert.severity,
        "status": alert.status,
        "title": alert.title,
        "numbers": alert.numbers,
        "started_at": alert.started_at.isoformat(),
        "deploy_id": alert.deploy.id,
        "url": alert.url,
    }


def webhook_body(message: Message) -> dict[str, Any]:
    suspect = message.suspect
    return {
        "type": f"alert.{message.reason}",
        "status": message.status,
        "group_key": message.group_key,
        "project": message.project,
        "service": message.service,
        "environment": message.environment,
        "severity": message.severity,
        "summary": summary(message),
        "deploy": _deploy_json(suspect),
        "alerts": [_alert_json(a) for a in message.alerts],
        "resolved": [_alert_json(a) for a in message.resolved],
        "links": {"deploy": suspect.url if suspect else None, "alerts": message.alerts_url},
        "sent_at": message.sent_at.isoformat(),
    }


# --- Slack ----------------------------------------------------------------------------------------

_SLACK_ICONS = {"firing": ":rotating_light:", "acknowledged": ":eyes:", "resolved": ":white_check_mark:"}


def _mrkdwn(text: str) -> str:
    """Slack's three control characters, escaped as its docs require."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str, text: str) -> str:
    return f"<{url}|{_mrkdwn(text).replace('|', '¦')}>"


def _slack_alert_line(alert: AlertInfo) -> dict[str, Any]:
    icon = _SLACK_ICONS.get(alert.status, "")
    text = f"{icon} *{_mrkdwn(alert.severity)}* {_mrkdwn(alert.title)} · {_slack_link(alert.url, 'alert')}"
    return {"type": "section", "text": {"type": "mrkdwn", "text": _truncate(text, SLACK_TEXT_MAX)}}


def _slack_deploy_block(deploy: DeployInfo | None, now: datetime) -> dict[str, Any]:
    if deploy is None:
        text = "*Suspect deploy*: none"
    else:
        rest = _deploy_line(deploy, now).removeprefix(f"deploy {deploy.version}")
        text = f"*Suspect deploy* {_slack_link(deploy.url, deploy.version)}{_mrkdwn(rest)}"
    return {"type": "section", "text": {"type": "mrkdwn", "text": _truncate(text, SLACK_TEXT_MAX)}}


def _slack_alert_blocks(alerts: Sequence[AlertInfo], heading: str) -> list[dict[str, Any]]:
    if not alerts:
        return []
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": f"*{heading}*"}}]
    blocks += [_slack_alert_line(a) for a in alerts[:SLACK_ALERT_BLOCKS]]
    if len(alerts) > SLACK_ALERT_BLOCKS:
        more = f"and {len(alerts) - SLACK_ALERT_BLOCKS} more on the alerts page"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return blocks


def slack_body(message: Message) -> dict[str, Any]:
    suspect = message.suspect
    state = "TEST" if message.reason == "test" else message.status.upper()
    header = f"{state}: {message.service} in {message.environment}"
    buttons = [{"type": "button", "text": {"type": "plain_text", "text": "Open alerts"}, "url": message.alerts_url}]
    if suspect is not None:
        label = "Open deploy (rollback)"
        buttons.insert(0, {"type": "button", "text": {"type": "plain_text", "text": label}, "url": suspect.url})
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": _truncate(header, SLACK_HEADER_MAX)}},
        _slack_deploy_block(suspect, message.sent_at),
        *_slack_alert_blocks(message.alerts, "Open alerts"),
        *_slack_alert_blocks(message.resolved, "Resolved"),
        {"type": "actions", "elements": buttons},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{CLIENT} · {_mrkdwn(message.project)}"}]},
    ]
    # The top-level text is mrkdwn too (it is the notification and fallback): the same three escapes apply.
    return {"text": _truncate(_mrkdwn(summary(message)), SLACK_TEXT_MAX), "blocks": blocks}


# --- PagerDuty Events API v2 ------------------------------------------------------------------------


def pagerduty_body(message: Message, *, routing_key: str, client_url: str = "") -> dict[str, Any]:
    """An alert event; acknowledge and resolve carry only the keys PagerDuty documents for them."""
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": message.event_action,
        "dedup_key": message.group_key,
    }
    if message.event_action != "trigger":
        return event
    suspect = message.suspect
    links = [{"href": a.url, "text": _truncate(a.title, 200)} for a in message.alerts[:5]]
    if suspect is not None:
        links.insert(0, {"href": suspect.url, "text": f"Deploy {suspect.version} (rollback from this page)"})
    event["payload"] = {
        "summary": _truncate(summary(message), PAGERDUTY_SUMMARY_MAX),
        "source": f"{message.service}/{message.environment}",
        "severity": message.severity,
        "timestamp": message.sent_at.isoformat(),
        "component": message.service,
        "group": message.environment,
        "class": ", ".join(sorted({a.kind for a in message.alerts})) or message.reason,
        "custom_details": {
            "project": message.project,
            "deploy": _deploy_json(suspect),
            "alerts": [_alert_json(a) for a in message.alerts],
        },
    }
    event["links"] = links
    event["client"] = CLIENT
    if client_url:
        event["client_url"] = client_url
    return event


def pagerduty_change_body(change: DeployChange, *, routing_key: str | None = None) -> dict[str, Any]:
    """A change event (`/v2/change/enqueue`): shown beside incidents on the service, pages no one.

    Without `routing_key` the key is left out (it is added at send time, never stored)."""
    model = f", model {change.model}" if change.model else ""
    author = f" by {change.author}" if change.author else ""
    summary_text = f"Deploy {change.version} of {change.service} to {change.environment}{model}{author}"
    details = {"service": change.service, "environment": change.environment, "version": change.version}
    details |= {k: v for k, v in (("commit_sha", change.commit_sha), ("author", change.author)) if v}
    if change.model:
        details["model"] = change.model
    links = [{"href": change.url, "text": f"Deploy {change.version} in {CLIENT}"}]
    if change.ci_url:
        links.append({"href": change.ci_url, "text": "CI run"})
    body: dict[str, Any] = {
        "payload": {
            "summary": _truncate(summary_text, PAGERDUTY_SUMMARY_MAX),
            "timestamp": change.deployed_at.isoformat(),
            "source": f"{change.service}/{change.environment}",
            "custom_details": details,
        },
        "links": links,
    }
    if routing_key is not None:
        body = {"routing_key": routing_key, **body}
    return body


# --- e-mail ---------------------------------------------------------------------------------------------


def email_subject(message: Message) -> str:
    """Service, environment, version and verdict up front, so an inbox sorts itself; folds badly past ~200."""
    if message.reason == "test":
        return _truncate(summary(message), 200)
    suspect = message.suspect
    deploy = f" {suspect.version}" if suspect is not None else ""
    verdict = f" ({suspect.verdict})" if suspect is not None and suspect.verdict else ""
    fired = message.alerts or message.resolved
    what = fired[0].title if fired else "no alerts"
    more = f" (+{len(fired) - 1} more)" if len(fired) > 1 else ""
    head = f"[{message.status.upper()}] {message.service}/{message.environment}{deploy}{verdict}"
    return _truncate(f"{head}: {what}{more}", 200)


def email_message(message: Message) -> tuple[str, str]:
    """(subject, plain-text body)."""
    lines = [summary(message), ""]
    suspect = message.suspect
    if suspect is not None:
        lines += [f"Suspect {_deploy_line(suspect, message.sent_at)}", f"  commit {suspect.commit_sha or '-'}"]
        if suspect.verdict:
            lines.append(f"  verdict {suspect.verdict}")
        lines += [f"  deploy page (rollback button): {suspect.url}", ""]
    for heading, alerts in (("Open alerts", message.alerts), ("Resolved", message.resolved)):
        if alerts:
            lines.append(f"{heading}:")
            lines += [f"  - [{a.severity}] {a.title}\n    {a.url}" for a in alerts]
            lines.append("")
    lines.append(f"All alerts: {message.alerts_url}")
    return email_subject(message), "\n".join(lines)


def email_html(message: Message) -> str:
    """The same content as the plain-text part, for mail clients that show HTML (every value escaped)."""
    esc = html.escape
    parts = [f"<p><strong>{esc(summary(message))}</strong></p>"]
    suspect = message.suspect
    if suspect is not None:
        verdict = f"; verdict <strong>{esc(suspect.verdict)}</strong>" if suspect.verdict else ""
        parts.append(
            f"<p>Suspect {esc(_deploy_line(suspect, message.sent_at))}; commit "
            f"<code>{esc(suspect.commit_sha or '-')}</code>{verdict}. "
            f'<a href="{esc(suspect.url)}">Open the deploy page (rollback button)</a></p>'
        )
    for heading, alerts in (("Open alerts", message.alerts), ("Resolved", message.resolved)):
        if alerts:
            items = "".join(f'<li>[{esc(a.severity)}] <a href="{esc(a.url)}">{esc(a.title)}</a></li>' for a in alerts)
            parts.append(f"<h3>{heading}</h3><ul>{items}</ul>")
    parts.append(f'<p><a href="{esc(message.alerts_url)}">All alerts</a></p>')
    return "<html><body>" + "".join(parts) + "</body></html>"
