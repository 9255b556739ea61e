"""Native CI and registry webhooks mapped onto a deploy event (pure: no Django imports).

Each mapper takes the provider's parsed JSON body and returns a Mapped: our deploy-event dict (the same shape
as `POST /api/v1/deploys`, so the same validation applies) plus what the provider says beyond it (is the
environment production, a note for the deploy's timeline, payload fields it had to leave out). Events that
are not deploys raise Ignored; a body without the fields the provider documents raises BadPayload.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from dataclasses import dataclass, field
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
    """A well-formed event that is not a deploy (a ping, a tag change, an inactive status, a test delivery)."""


class BadPayload(Exception):
    """The body does not have the fields the provider documents."""


@dataclass
class Mapped:
    """A provider event as a deploy event, with what the provider said beyond our event's fields."""

    event: dict[str, Any]
    # The provider's own word on the environment (GitLab tier, GitHub production_environment); None: silent.
    production: bool | None = None
    # What the deploy's timeline says about this event (task, status description).
    note: str = ""
    # Parts of the payload left out, each {"what", "reason"}: the answer says so and the deploy is still stored.
    ignored: list[dict[str, str]] = field(default_factory=list)
    # Set for events about a deploy's surroundings rather than a deploy (MLflow lineage and alias removal).
    action: str = "deploy"
    # What a required field falls back to when the value a payload gave for it is not valid.
    fallbacks: dict[str, Any] = field(default_factory=dict)


def _get(body: dict, *path: str) -> Any:
    node: Any = body
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise BadPayload("missing " + ".".join(path))
        node = node[key]
    return node


def _slug(name: str, limit: int = 100) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:limit] or "unnamed"


def service_name(path: str, mapping: dict[str, str] | None = None) -> str:
    """A repository (or registered model) as a service: the project's chosen name, else its full path.

    `root/x` and `other-group/x` are different repositories, so they must be different services; a path's
    `/` becomes `.` because service names appear in URLs.
    """
    chosen = (mapping or {}).get(path)
    if chosen:
        return chosen
    return ".".join(_slug(part) for part in path.split("/") if part)[:100] or "unnamed"


def _clean(event: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in event.items() if value not in (None, "")}


GITHUB_STATES = {
    "pending": "pending",
    "queued": "pending",
    "in_progress": "in_progress",
    "success": "succeeded",
    "failure": "failed",
    "error": "failed",
}


def _github_payload(deployment: dict) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """`deployment.payload` as an object: GitHub accepts a JSON object or a string holding one."""
    raw = deployment.get("payload")
    if isinstance(raw, str):
        if not raw.strip():
            return {}, []
        try:
            raw = json.loads(raw)
        except ValueError:
            return {}, [{"what": "deployment.payload", "reason": "a string that is not JSON"}]
    if raw is None:
        return {}, []
    if not isinstance(raw, dict):
        return {}, [{"what": "deployment.payload", "reason": "not a JSON object"}]
    return {key: raw[key] for key in PASSTHROUGH if key in raw}, []


# How every status Deploy Tracker writes back to a provider begins (alerts.statuses), so its echo is known.
OWN_STATUS_PREFIX = "Deploy Tracker:"


def github_deployment(body: dict, services: dict[str, str] | None = None) -> Mapped:
    """A `deployment` event (action created): the deploy exists, nothing has run yet."""
    deployment = _get(body, "deployment")
    if not isinstance(deployment, dict):
        raise BadPayload("deployment is not an object")
    return _github_mapped(body, deployment, None, services)


def github_deployment_status(body: dict, services: dict[str, str] | None = None) -> Mapped:
    status = _get(body, "deployment_status")
    state = _get(body, "deployment_status", "state")
    if state not in GITHUB_STATES:
        raise Ignored(f"deployment_status state {state!r} is not a deploy outcome")
    description = _get(body, "deployment_status", "description")
    if isinstance(description, str) and description.startswith(OWN_STATUS_PREFIX):
        # The status write-back posts verdicts as deployment statuses; GitHub sends them back here. A verdict
        # is not a deploy outcome: a "failure" meaning "degraded" must not fail the deploy.
        raise Ignored("a verdict Deploy Tracker wrote back itself, not a deploy outcome")
    deployment = _get(body, "deployment")
    if not isinstance(deployment, dict):
        raise BadPayload("deployment is not an object")
    return _github_mapped(body, deployment, status, services)


def _github_mapped(body: dict, deployment: dict, status: dict | None, services: dict[str, str] | None) -> Mapped:
    payload, ignored = _github_payload(deployment)
    repository = str(_get(body, "repository", "full_name"))
    state = GITHUB_STATES[status["state"]] if status else "pending"
    # A status may name another environment than its deployment: the deploy moves there.
    environment = (status or {}).get("environment") or _get(deployment, "environment")
    event = {
        "service": service_name(repository, services),
        "environment": _slug(str(environment), 50),
        "version": str(_get(deployment, "sha"))[:12],
        "status": state,
        "external_id": f"github-deployment-{_get(deployment, 'id')}",
        "commit_sha": _get(deployment, "sha"),
        "ref": deployment.get("ref") or "",
        "author": (deployment.get("creator") or {}).get("login") or "",
        "ci_url": (status or {}).get("log_url") or (status or {}).get("target_url") or "",
        "environment_url": (status or {}).get("environment_url") or "",
        "started_at": deployment.get("created_at"),
        "changelog": deployment.get("description") or "",
    }
    if state in ("succeeded", "failed"):
        event["finished_at"] = status.get("created_at")
    fallbacks = {key: event[key] for key in ("service", "version") if key in payload}
    event.update(payload)
    task = deployment.get("task") or "deploy"
    description = (status or {}).get("description") or ""
    note = f"GitHub {'status ' + status['state'] if status else 'deployment created'} (task {task})"
    production = deployment.get("production_environment")
    return Mapped(
        event=_clean(event),
        production=production if isinstance(production, bool) else None,
        note=note + (f": {description}" if description else ""),
        ignored=ignored,
        fallbacks=fallbacks,
    )


GITLAB_STATES = {
    "created": "pending",
    "running": "in_progress",
    "success": "succeeded",
    "failed": "failed",
    "canceled": "failed",
}


def gitlab_deployment(body: dict, services: dict[str, str] | None = None) -> Mapped:
    if body.get("object_kind") != "deployment":
        raise Ignored(f"object_kind {body.get('object_kind')!r} is not a deployment")
    state = _get(body, "status")
    if state not in GITLAB_STATES:
        raise Ignored(f"deployment status {state!r} is not a deploy outcome")
    status = GITLAB_STATES[state]
    commit_url = body.get("commit_url") or ""
    sha = commit_url.rsplit("/", 1)[-1] if "/commit/" in commit_url else _get(body, "short_sha")
    event = {
        "service": service_name(str(_get(body, "project", "path_with_namespace")), services),
        "environment": _slug(str(_get(body, "environment")), 50),
        "version": str(_get(body, "short_sha")),
        "status": status,
        "external_id": f"gitlab-deployment-{_get(body, 'deployment_id')}",
        "commit_sha": sha,
        "ref": body.get("ref") or "",
        "author": (body.get("user") or {}).get("username") or "",
        "ci_url": body.get("deployable_url") or "",
        "environment_url": body.get("environment_external_url") or "",
        "changelog": body.get("commit_title") or "",
    }
    changed = _gitlab_time(body["status_changed_at"]) if body.get("status_changed_at") else None
    if status == "in_progress":
        event["started_at"] = changed
    elif status in ("succeeded", "failed"):
        event["finished_at"] = changed
    tier = body.get("environment_tier")
    return Mapped(
        event=_clean(event),
        production=True if tier == "production" else (False if tier else None),
        note=f"GitLab deployment {state}" + (f" (tier {tier})" if tier else ""),
    )


def _gitlab_time(raw: str) -> str:
    # GitLab writes "2021-04-28 21:50:00 +0200"; our API takes ISO 8601.
    try:
        return datetime.strptime(raw, "%Y-%m-%d %H:%M:%S %z").isoformat()
    except (TypeError, ValueError):
        raise BadPayload("status_changed_at is not a time") from None


# What MLflow's "test webhook" button sends: the event's example payload (mlflow/webhooks/types.py,
# `<Payload>.example()`, sent by `mlflow.webhooks.delivery.test_webhook`) with no other mark. Every example
# names the model `example_model` (version "1", alias `example_alias`); the other example fields change between
# MLflow releases, so these three identify a test delivery.
MLFLOW_EXAMPLE = {"name": "example_model", "version": "1", "alias": "example_alias"}


def mlflow_is_test(data: dict) -> bool:
    return data.get("name") == MLFLOW_EXAMPLE["name"] and all(
        data[key] == value for key, value in MLFLOW_EXAMPLE.items() if key in data
    )


DEFAULT_MLFLOW_ENVIRONMENTS = {"champion": "production"}


def mlflow_alias_external_id(name: str, alias: str, version: str) -> str:
    """One deploy per (model, alias, version): a re-sent event updates it instead of adding another."""
    return f"mlflow-{name}@{alias}-v{version}"[:200]


def mlflow_event(
    body: dict, services: dict[str, str] | None = None, environments: dict[str, str] | None = None
) -> Mapped:
    """An alias pointed at a model version is a deploy of that version to the alias's environment.

    `model_version.created` (its run and source, for the lineage) and an alias's removal are recorded
    around the deploys; every other event is acknowledged and ignored.
    """
    kind = (body.get("entity"), body.get("action"))
    data = _get(body, "data")
    if not isinstance(data, dict):
        raise BadPayload("data is not an object")
    if mlflow_is_test(data):
        raise Ignored(f"MLflow test delivery of {kind[0]}.{kind[1]} (its example payload); nothing stored")
    if kind == ("model_version", "created"):
        return _mlflow_version_created(data)
    if kind == ("model_version_alias", "deleted"):
        name, alias = str(_get(data, "name")), str(_get(data, "alias"))
        return Mapped(
            event={"name": name, "alias": alias}, action="alias_deleted", note=f"MLflow alias {alias} removed"
        )
    if kind != ("model_version_alias", "created"):
        raise Ignored(f"{kind[0]}.{kind[1]} does not deploy a model")
    name, alias, version = str(_get(data, "name")), str(_get(data, "alias")), str(_get(data, "version"))
    mapping = {**DEFAULT_MLFLOW_ENVIRONMENTS, **(environments or {})}
    return Mapped(
        event={
            "service": service_name(name, services),
            "environment": _slug(mapping.get(alias, alias), 50),
            "version": f"{name}-v{version}"[:100],
            "status": "succeeded",
            "external_id": mlflow_alias_external_id(name, alias, version),
            "model": {"name": name[:200], "version": version[:100], "uri": f"models:/{name}/{version}"[:1000]},
        },
        note=f"MLflow alias {alias} set on {name} version {version}",
    )


def _mlflow_version_created(data: dict) -> Mapped:
    return Mapped(
        event={
            "name": str(_get(data, "name"))[:200],
            "version": str(_get(data, "version"))[:100],
            "run_id": str(data.get("run_id") or "")[:100],
            "source": str(data.get("source") or "")[:1000],
        },
        action="model_version_created",
        note="MLflow model version created",
    )


def gitlab_verify(secret: str, header: str) -> bool:
    return hmac.compare_digest(secret.encode(), header.encode())


def mlflow_fresh(timestamp: str, now: float | None = None) -> bool:
    """MLflow's `X-MLflow-Timestamp` (Unix seconds) within 5 minutes: a stale one is a replay or a clock problem."""
    return timestamp.isdigit() and abs((time.time() if now is None else now) - int(timestamp)) <= TOLERANCE_SECONDS


def mlflow_verify(
    secret: str, signature: str, delivery_id: str, timestamp: str, body: bytes, now: float | None = None
) -> bool:
    """`X-MLflow-Signature: v1,<base64 HMAC-SHA256 of "{delivery_id}.{timestamp}.{body}">`, fresh within 5 min."""
    if not mlflow_fresh(timestamp, now):
        return False
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()
    return hmac.compare_digest(expected.encode(), signature.encode())
