"""Outbound `rollback.requested` and `promotion.requested` bodies: generic JSON and the GitHub / GitLab presets.

Pure module: the dispatch service turns rows into a `RollbackMessage`, picks a builder by the
endpoint's format, and signs the exact bytes `encode_body` returns (Standard Webhooks, with the
request's id as `webhook-id`, so CI can drop a retried delivery it has already acted on).

Both kinds carry the same facts under their own names (`KINDS`): a rollback goes from `current` back
to `target`; a promotion gives `deploy` (the canary, A/B or shadow deploy) the traffic of `baseline`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from rollbacks.states import CALLBACK_STATES

EVENT_TYPE = "rollback.requested"
PROMOTION_EVENT_TYPE = "promotion.requested"
# GitHub's documented ceilings for POST /repos/{owner}/{repo}/dispatches.
GITHUB_EVENT_TYPE_MAX = 100
GITHUB_CLIENT_PAYLOAD_MAX_KEYS = 10
GITHUB_CLIENT_PAYLOAD_MAX_BYTES = 64 * 1024
GITHUB_PAYLOAD_KEYS = (
    "rollback_id",
    "project",
    "service",
    "environment",
    "current",
    "target",
    "reason",
    "requested_by",
    "expires_at",
    "callback",
)
# GitLab variable keys: letters, digits and underscores only.
GITLAB_VARIABLE_KEY = re.compile(r"^[A-Za-z0-9_]{1,255}\Z")


@dataclass(frozen=True)
class KindNames:
    """How one kind of request names its event, its id and its two deploys in every format."""

    event_type: str
    id_key: str
    current_key: str  # the deploy the request is about (rolled back / promoted)
    target_key: str  # the other deploy (the one to go back to / the baseline it replaces)
    variable_prefix: str  # GitLab pipeline variables


KINDS: dict[str, KindNames] = {
    "rollback": KindNames(EVENT_TYPE, "rollback_id", "current", "target", "ROLLBACK"),
    "promotion": KindNames(PROMOTION_EVENT_TYPE, "promotion_id", "deploy", "baseline", "PROMOTION"),
}


class EndpointFormat(StrEnum):
    GENERIC = "generic"
    GITHUB = "github"
    GITLAB = "gitlab"


class PayloadError(ValueError):
    """The message cannot be expressed within the receiving API's documented limits."""


@dataclass(frozen=True)
class ModelRef:
    name: str = ""
    version: str = ""
    uri: str = ""
    digest: str = ""


@dataclass(frozen=True)
class DeployRef:
    id: int
    version: str
    commit_sha: str = ""
    ref: str = ""
    model: ModelRef | None = None
    url: str = ""


@dataclass(frozen=True)
class RollbackMessage:
    rollback_id: str
    project: str
    service: str
    environment: str
    current: DeployRef
    target: DeployRef
    reason: str
    requested_by: str
    requested_at: datetime
    expires_at: datetime
    callback_url: str
    callback_token: str
    kind: str = "rollback"  # a key of KINDS

    @property
    def names(self) -> KindNames:
        return KINDS[self.kind]


def iso_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z`, the form CI scripts parse most reliably."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _model_dict(model: ModelRef | None) -> dict[str, str] | None:
    if model is None:
        return None
    return {
        "name": model.name,
        "version": model.version,
        "uri": model.uri,
        "digest": model.digest,
    }


def deploy_dict(deploy: DeployRef) -> dict[str, Any]:
    return {
        "id": deploy.id,
        "version": deploy.version,
        "commit_sha": deploy.commit_sha,
        "ref": deploy.ref,
        "model": _model_dict(deploy.model),
        "url": deploy.url,
    }


def _callback_dict(msg: RollbackMessage) -> dict[str, Any]:
    return {
        "url": msg.callback_url,
        "token": msg.callback_token,
        "statuses": [str(s) for s in CALLBACK_STATES],
    }


def generic_body(msg: RollbackMessage) -> dict[str, Any]:
    """Deploy Tracker's own format, for any receiver that can parse JSON."""
    names = msg.names
    return {
        "type": names.event_type,
        names.id_key: msg.rollback_id,
        "project": msg.project,
        "service": msg.service,
        "environment": msg.environment,
        names.current_key: deploy_dict(msg.current),
        names.target_key: deploy_dict(msg.target),
        "reason": msg.reason,
        "requested_by": msg.requested_by,
        "requested_at": iso_utc(msg.requested_at),
        "expires_at": iso_utc(msg.expires_at),
        "callback": _callback_dict(msg),
    }


def github_payload_keys(names: KindNames) -> tuple[str, ...]:
    """GITHUB_PAYLOAD_KEYS under the kind's own names."""
    renamed = {"rollback_id": names.id_key, "current": names.current_key, "target": names.target_key}
    return tuple(renamed.get(key, key) for key in GITHUB_PAYLOAD_KEYS)


def github_body(msg: RollbackMessage, event_type: str = EVENT_TYPE) -> dict[str, Any]:
    """GitHub `repository_dispatch`: `event_type` plus a `client_payload` of at most 10 keys.

    The event type is carried by `event_type`, so the payload drops `type` and `requested_at`
    to stay within GitHub's ten top-level keys. A promotion always goes as `promotion.requested`
    (the endpoint's event type names its rollbacks), so one workflow can tell the two apart.
    """
    if msg.kind != "rollback":
        event_type = msg.names.event_type
    if not 1 <= len(event_type) <= GITHUB_EVENT_TYPE_MAX:
        raise PayloadError(f"GitHub event_type must be 1 to {GITHUB_EVENT_TYPE_MAX} characters")
    full = generic_body(msg)
    client_payload = {key: full[key] for key in github_payload_keys(msg.names)}
    if len(encode_body(client_payload)) >= GITHUB_CLIENT_PAYLOAD_MAX_BYTES:
        raise PayloadError("GitHub client_payload must be smaller than 64 KB")
    return {"event_type": event_type, "client_payload": client_payload}


def _deploy_variables(prefix: str, deploy: DeployRef) -> dict[str, str]:
    model = deploy.model or ModelRef()
    return {
        f"{prefix}_DEPLOY_ID": str(deploy.id),
        f"{prefix}_VERSION": deploy.version,
        f"{prefix}_COMMIT_SHA": deploy.commit_sha,
        f"{prefix}_REF": deploy.ref,
        f"{prefix}_MODEL_NAME": model.name,
        f"{prefix}_MODEL_VERSION": model.version,
        f"{prefix}_MODEL_URI": model.uri,
    }


def gitlab_variables(msg: RollbackMessage) -> dict[str, str]:
    """Pipeline variables: GitLab takes a flat map of string values, so the message is flattened.

    A rollback's variables start with ROLLBACK_ (…_CURRENT_…, …_TARGET_…), a promotion's with
    PROMOTION_ (…_DEPLOY_…, …_BASELINE_…), so a pipeline tells the two apart by which are set.
    """
    names = msg.names
    prefix = names.variable_prefix
    return {
        f"{prefix}_ID": msg.rollback_id,
        f"{prefix}_PROJECT": msg.project,
        f"{prefix}_SERVICE": msg.service,
        f"{prefix}_ENVIRONMENT": msg.environment,
        **_deploy_variables(f"{prefix}_{names.current_key.upper()}", msg.current),
        **_deploy_variables(f"{prefix}_{names.target_key.upper()}", msg.target),
        f"{prefix}_REASON": msg.reason,
        f"{prefix}_REQUESTED_BY": msg.requested_by,
        f"{prefix}_EXPIRES_AT": iso_utc(msg.expires_at),
        f"{prefix}_CALLBACK_URL": msg.callback_url,
        f"{prefix}_CALLBACK_TOKEN": msg.callback_token,
    }


def gitlab_body(msg: RollbackMessage, trigger_token: str, ref: str) -> dict[str, Any]:
    """GitLab pipeline trigger (`POST /projects/:id/trigger/pipeline`): `token`, `ref`, `variables`."""
    if not trigger_token or not ref:
        raise PayloadError("a GitLab pipeline trigger needs a trigger token and a ref")
    return {"token": trigger_token, "ref": ref, "variables": gitlab_variables(msg)}


def encode_body(body: dict[str, Any]) -> bytes:
    """The exact bytes that are sent and signed (compact, UTF-8)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class EndpointSettings:
    """What a builder needs from the project's rollback endpoint (secrets already decrypted)."""

    format: EndpointFormat
    token: str = ""  # GitLab: the trigger token; otherwise a bearer token for the Authorization header
    ref: str = "main"  # GitLab: the branch or tag the pipeline runs on
    event_type: str = EVENT_TYPE  # GitHub: the repository_dispatch event type


def build_body(endpoint: EndpointSettings, msg: RollbackMessage) -> dict[str, Any]:
    if endpoint.format is EndpointFormat.GITHUB:
        return github_body(msg, endpoint.event_type)
    if endpoint.format is EndpointFormat.GITLAB:
        return gitlab_body(msg, endpoint.token, endpoint.ref)
    return generic_body(msg)


def provider_headers(endpoint: EndpointSettings) -> dict[str, str]:
    """Headers the receiving API expects beside the Standard Webhooks signature."""
    headers = {"Content-Type": "application/json", "User-Agent": "deploy-tracker"}
    if endpoint.format is EndpointFormat.GITHUB:
        headers["Accept"] = "application/vnd.github+json"
        headers["X-GitHub-Api-Version"] = "2022-11-28"
    # GitLab authenticates the trigger by the token in the body, not by a header.
    if endpoint.token and endpoint.format is not EndpointFormat.GITLAB:
        headers["Authorization"] = f"Bearer {endpoint.token}"
    return headers
