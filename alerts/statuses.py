"""Verdicts as GitHub and GitLab statuses (pure: no Django, no network).

A deploy's verdict becomes one status request per provider:

- GitHub: a deployment status when the deploy came from a GitHub deployment (its id is in the external id
  `github-deployment-<id>`) once the verdict is decided (degraded, or final), else a commit status on the
  deploy's commit;
- GitLab: a commit status on the deploy's commit.

States: a degraded verdict fails at once (people should see it while the window is still open); anything
else stays pending until the verdict is final, then healthy, improved, marginal, promote and rollback succeed and
insufficient data is an error (GitHub) or failed (GitLab: it has no error state).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from deployments.providers import OWN_STATUS_PREFIX

DESCRIPTION_MAX = 140  # GitHub's documented limit for a status description
GITHUB_DEPLOYMENT = re.compile(r"github-deployment-(\d{1,20})")
GITHUB_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}")
GITLAB_PROJECT = re.compile(r"[0-9]{1,20}|[A-Za-z0-9_.-]{1,255}(/[A-Za-z0-9_.-]{1,255}){1,20}")
SUCCEEDS = {"healthy", "improved", "marginal", "rollback", "promote"}
GITLAB_STATES = {"pending": "pending", "success": "success", "failure": "failed", "error": "failed"}


@dataclass(frozen=True)
class Verdict:
    verdict: str
    score: float | None
    final: bool


@dataclass(frozen=True)
class DeployRef:
    id: int
    service: str
    environment: str
    version: str
    commit_sha: str
    ref: str
    external_id: str
    url: str  # the deploy page


@dataclass(frozen=True)
class StatusRequest:
    path: str  # under the provider's API URL
    body: dict[str, Any]


def state_of(verdict: Verdict) -> str:
    """GitHub's words: pending, success, failure or error."""
    if verdict.verdict == "degraded":
        return "failure"
    if verdict.verdict == "rollback" or verdict.final:
        return "success" if verdict.verdict in SUCCEEDS else "error"
    return "pending"


def description(verdict: Verdict, deploy: DeployRef) -> str:
    score = f", score {verdict.score:g}" if verdict.score is not None else ""
    so_far = "" if verdict.final or verdict.verdict == "rollback" else " so far"
    text = f"{OWN_STATUS_PREFIX} {verdict.verdict.replace('_', ' ')}{score}{so_far} ({deploy.version})"
    return text if len(text) <= DESCRIPTION_MAX else text[: DESCRIPTION_MAX - 1] + "…"


def context_of(context: str, deploy: DeployRef) -> str:
    """One status per environment, so a staging verdict does not overwrite production's on the same commit."""
    return f"{context}/{deploy.environment}"


def github_request(deploy: DeployRef, verdict: Verdict, *, repository: str, context: str) -> StatusRequest | None:
    found = GITHUB_DEPLOYMENT.fullmatch(deploy.external_id or "")
    if found:
        state = state_of(verdict)
        if state == "pending":
            # A deployment status is the deployment's own state on GitHub: "pending" would show a live
            # deployment as not yet deployed for the whole observation window. Only a decided verdict goes.
            return None
        body = {
            "state": state,
            "log_url": deploy.url,
            "description": description(verdict, deploy),
            # Our verdict must not mark this repository's other deployments inactive.
            "auto_inactive": False,
        }
        return StatusRequest(f"/repos/{repository}/deployments/{found.group(1)}/statuses", body)
    if not deploy.commit_sha:
        return None
    body = {
        "state": state_of(verdict),
        "target_url": deploy.url,
        "description": description(verdict, deploy),
        "context": context_of(context, deploy),
    }
    return StatusRequest(f"/repos/{repository}/statuses/{quote(deploy.commit_sha, safe='')}", body)


def gitlab_request(deploy: DeployRef, verdict: Verdict, *, project: str, context: str) -> StatusRequest | None:
    if not deploy.commit_sha:
        return None
    body: dict[str, Any] = {
        "state": GITLAB_STATES[state_of(verdict)],
        "name": context_of(context, deploy),
        "target_url": deploy.url,
        "description": description(verdict, deploy),
    }
    if deploy.ref:
        body["ref"] = deploy.ref
    path = f"/projects/{quote(project, safe='')}/statuses/{quote(deploy.commit_sha, safe='')}"
    return StatusRequest(path, body)


def repository_valid(provider: str, repository: str) -> bool:
    pattern = GITHUB_REPOSITORY if provider == "github" else GITLAB_PROJECT
    return bool(pattern.fullmatch(repository)) and ".." not in repository
