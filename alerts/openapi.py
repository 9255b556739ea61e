"""OpenAPI: what a generic webhook alert channel receives (alerts.payloads.webhook_body), as a documented
webhook of the schema (a postprocessing hook)."""

from __future__ import annotations

from tracker.openapi import outbound_webhook

_TEXT = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
DEPLOY = {
    "type": "object",
    "required": ["id", "version", "commit_sha", "author", "model", "went_out_at", "url"],
    "properties": {
        "id": {"type": "string", "description": "the deploy's id"},
        "version": _TEXT,
        "commit_sha": _TEXT,
        "author": _TEXT,
        "model": {"type": "object", "properties": {"name": _TEXT, "version": _TEXT}},
        "went_out_at": {"type": ["string", "null"], "format": "date-time"},
        "url": {"type": "string", "description": "the deploy's page, with the rollback button"},
    },
}
ALERT = {
    "type": "object",
    "required": ["id", "fingerprint", "rule", "kind", "severity", "status", "title", "numbers", "started_at", "url"],
    "properties": {
        "id": _TEXT,
        "fingerprint": _TEXT,
        "rule": _TEXT,
        "kind": _TEXT,
        "severity": {"type": "string", "enum": ["critical", "error", "warning", "info"]},
        "status": {"type": "string", "enum": ["firing", "acknowledged", "resolved"]},
        "title": _TEXT,
        "numbers": {"type": "object", "description": "the figures that opened the alert (drift share, columns, …)"},
        "started_at": _TIME,
        "deploy_id": _TEXT,
        "url": _TEXT,
    },
}
ALERT_NOTIFICATION = {
    "type": "object",
    "required": [
        "type",
        "status",
        "group_key",
        "project",
        "service",
        "environment",
        "severity",
        "summary",
        "deploy",
        "alerts",
        "resolved",
        "links",
        "sent_at",
    ],
    "properties": {
        "type": {
            "type": "string",
            "enum": [
                "alert.firing",
                "alert.update",
                "alert.acknowledged",
                "alert.resolved",
                "alert.repeat",
                "alert.test",
            ],
        },
        "status": {"type": "string", "enum": ["firing", "acknowledged", "resolved"]},
        "group_key": _TEXT,
        "project": _TEXT,
        "service": _TEXT,
        "environment": _TEXT,
        "severity": _TEXT,
        "summary": _TEXT,
        "deploy": {"oneOf": [DEPLOY, {"type": "null"}], "description": "the suspect deploy"},
        "alerts": {"type": "array", "items": ALERT, "description": "open alerts of the group"},
        "resolved": {"type": "array", "items": ALERT, "description": "alerts resolved since the last notification"},
        "links": {
            "type": "object",
            "properties": {"deploy": {"type": ["string", "null"]}, "alerts": _TEXT},
        },
        "sent_at": _TIME,
    },
}


def alert_webhook(result: dict, generator, request, public) -> dict:
    result.setdefault("webhooks", {})["alert"] = outbound_webhook(
        summary="An alert group's notification, to a generic webhook channel",
        description="Sent when a group of alerts fires, changes, is acknowledged, resolves or repeats (and by a "
        "channel test), signed with the channel's `whsec_` secret. Slack, PagerDuty and e-mail channels receive "
        "their own formats instead.",
        body=ALERT_NOTIFICATION,
    )
    return result
