"""Native CI and registry webhooks mapped onto a deploy event (pure: no Django imports).

Each mapper takes the provider's parsed JSON body and returns our deploy-event dict (the same shape as
`POST /api/v1/deploys`, so the same validation applies), or raises Ignored for events that are not deploys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from datetime import datetime
from typing import Any

TOLERANCE_SECONDS = 5 * 60
# Fields a deployment's own payload may carry through to us (GitHub `deployment.payload`).
PASSTHROUGH = (
    "service",
    "version",
    "model",
    "data_version",
    "params",
    "strategy",
    "traffic_percent",
    "changelog",
    "expected_drift",
    "commit_timestamp",
)


class Ignored(Exception):
    """A well-formed event that is not a deploy (a ping, a tag change, an inactive status)."""


class BadPayload(Exception):
    """The body does not have the fields the provider documents."""


def _get(body: dict, *path: str) -> Any:
    node: Any = body
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise BadPayload("missing " + ".".join(path))
        node = node[key]
    return node


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:100] or "unnamed"


GITHUB_STATES = {
    "pending": "pending",
    "queued": "pending",
    "in_progress": "in_progress",
    "success": "succeeded",
    "failure": "failed",
    "error": "failed",
}


def github_deployment_status(body: dict) -> dict[str, Any]:
    state = _get(body, "deployment_status", "state")
    if state not in GITHUB_STATES:
        raise Ignored(f"deployment_status state {state!r} is not a deploy outcome")
    deployment = _get(body, "deployment")
    payload = deployment.get("payload") if isinstance(deployment.get("payload"), dict) else {}
    status = GITHUB_STATES[state]
    event = {
        "service": _slug(str(_get(body, "repository", "name"))),
        "environment": _slug(str(body["deployment_status"].get("environment") or _get(deployment, "environment"))),
        "version": str(_get(deployment, "sha"))[:12],
        "status": status,
        "external_id": f"github-deployment-{_get(deployment, 'id')}",
        "commit_sha": _get(deployment, "sha"),
        "ref": deployment.get("ref") or "",
        "author": (deployment.get("creator") or {}).get("login") or "",
        "ci_url": body["deployment_status"].get("log_url") or body["deployment_status"].get("target_url") or "",
        "started_at": deployment.get("created_at"),
    }
    if status in ("succeeded", "failed"):
        event["finished_at"] = body["deployment_status"].get("created_at")
    event.update({key: payload[key] for key in PASSTHROUGH if key in payload})
    return {key: value for key, value in event.items() if value not in (None, "")}


GITLAB_STATES = {
    "created": "pending",
    "running": "in_progress",
    "success": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}


def gitlab_deployment(body: dict) -> dict[str, Any]:
    if body.get("object_kind") != "deployment":
        raise Ignored(f"object_kind {body.get('object_kind')!r} is not a deployment")
    state = _get(body, "status")
    if state not in GITLAB_STATES:
        raise Ignored(f"deployment status {state!r} is not a deploy outcome")
    status = GITLAB_STATES[state]
    commit_url = body.get("commit_url") or ""
    sha = commit_url.rsplit("/", 1)[-1] if "/commit/" in commit_url else _get(body, "short_sha")
    event = {
        "service": _slug(str(_get(body, "project", "path_with_namespace")).rsplit("/", 1)[-1]),
        "environment": _slug(str(_get(body, "environment"))),
        "version": str(_get(body, "short_sha")),
        "status": status,
        "external_id": f"gitlab-deployment-{_get(body, 'deployment_id')}",
        "commit_sha": sha,
        "ref": body.get("ref") or "",
        "author": (body.get("user") or {}).get("username") or "",
        "ci_url": body.get("deployable_url") or "",
        "changelog": body.get("commit_title") or "",
    }
    if status in ("succeeded", "failed") and body.get("status_changed_at"):
        event["finished_at"] = _gitlab_time(body["status_changed_at"])
    return {key: value for key, value in event.items() if value not in (None, "")}


def _gitlab_time(raw: str) -> str:
    # GitLab writes "2021-04-28 21:50:00 +0200"; our API takes ISO 8601.
    try:
        return datetime.strptime(raw, "%Y-%m-%d %H:%M:%S %z").isoformat()
    except (TypeError, ValueError):
        raise BadPayload("status_changed_at is not a time") from None


def mlflow_event(body: dict) -> dict[str, Any]:
    """An alias pointed at a model version is a deploy of that version to the alias's environment."""
    if (body.get("entity"), body.get("action")) != ("model_version_alias", "created"):
        raise Ignored(f"{body.get('entity')}.{body.get('action')} does not deploy a model")
    data = _get(body, "data")
    name, alias, version = str(_get(data, "name")), str(_get(data, "alias")), str(_get(data, "version"))
    return {
        "service": _slug(name),
        "environment": _slug(alias),
        "version": f"{name}-v{version}"[:100],
        "status": "succeeded",
        "model": {"name": name[:200], "version": version[:100], "uri": f"models:/{name}/{version}"[:1000]},
    }


def gitlab_verify(secret: str, header: str) -> bool:
    return hmac.compare_digest(secret.encode(), header.encode())


def mlflow_verify(
    secret: str, signature: str, delivery_id: str, timestamp: str, body: bytes, now: float | None = None
) -> bool:
    """`X-MLflow-Signature: v1,<base64 HMAC-SHA256 of "{delivery_id}.{timestamp}.{body}">`, fresh within 5 min."""
    if not timestamp.isdigit() or abs((time.time() if now is None else now) - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected.encode(), signature.encode())
