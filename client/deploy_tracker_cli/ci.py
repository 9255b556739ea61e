"""What the CI system already knows about a deploy: GitHub Actions and GitLab CI, read from their variables.

Only documented variables are read:
https://docs.github.com/en/actions/reference/variables-reference and
https://docs.gitlab.com/ci/variables/predefined_variables/
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

MAX_EXTERNAL_ID = 200


def detect(env: Mapping[str, str]) -> str | None:
    if env.get("GITHUB_ACTIONS") == "true":
        return "github"
    if env.get("GITLAB_CI") == "true":
        return "gitlab"
    return None


def defaults(system: str | None, env: Mapping[str, str]) -> dict[str, str]:
    """Deploy fields known to the CI system; empty ones left out. `service`, `environment` and `version` are
    defaults the user's flags or DEPLOY_TRACKER_* variables override."""
    if system == "github":
        found = _github(env)
    elif system == "gitlab":
        found = _gitlab(env)
    else:
        found = {}
    return {key: value for key, value in found.items() if value}


def _github(env: Mapping[str, str]) -> dict[str, str]:
    repository = env.get("GITHUB_REPOSITORY", "")
    sha = env.get("GITHUB_SHA", "")
    run_url = ""
    if env.get("GITHUB_SERVER_URL") and repository and env.get("GITHUB_RUN_ID"):
        run_url = f"{env['GITHUB_SERVER_URL']}/{repository}/actions/runs/{env['GITHUB_RUN_ID']}"
        if env.get("GITHUB_RUN_ATTEMPT"):
            run_url += f"/attempts/{env['GITHUB_RUN_ATTEMPT']}"
    tag = env.get("GITHUB_REF_NAME", "") if env.get("GITHUB_REF_TYPE") == "tag" else ""
    return {
        "service": repository.rsplit("/", 1)[-1],
        "version": tag or sha[:12],
        "commit_sha": sha,
        "ref": env.get("GITHUB_REF_NAME", ""),
        "author": env.get("GITHUB_ACTOR", ""),
        "ci_url": run_url,
        # One deploy per run attempt and job: a re-run is a new deploy, a second post from one job updates it.
        "run_key": ":".join(
            [
                "github",
                repository,
                env.get("GITHUB_RUN_ID", ""),
                env.get("GITHUB_RUN_ATTEMPT", ""),
                env.get("GITHUB_JOB", ""),
            ]
        )
        if env.get("GITHUB_RUN_ID")
        else "",
    }


def _gitlab(env: Mapping[str, str]) -> dict[str, str]:
    project_path = env.get("CI_PROJECT_PATH", "")
    return {
        "service": env.get("CI_PROJECT_NAME") or project_path.rsplit("/", 1)[-1],
        "environment": env.get("CI_ENVIRONMENT_NAME", ""),
        "version": env.get("CI_COMMIT_TAG") or env.get("CI_COMMIT_SHORT_SHA", ""),
        "commit_sha": env.get("CI_COMMIT_SHA", ""),
        "ref": env.get("CI_COMMIT_REF_NAME", ""),
        "author": env.get("GITLAB_USER_LOGIN", ""),
        "ci_url": env.get("CI_PIPELINE_URL", ""),
        "commit_timestamp": env.get("CI_COMMIT_TIMESTAMP", ""),
        # A job is one deploy; a retried job (a new CI_JOB_ID) is another.
        "run_key": f"gitlab:{project_path}:{env['CI_JOB_ID']}" if env.get("CI_JOB_ID") else "",
    }


def external_id(run_key: str, service: str, environment: str) -> str:
    """A stable id for this job's deploy of this service to this environment (a hash when over the limit)."""
    key = f"{run_key}:{service}:{environment}"
    if len(key) <= MAX_EXTERNAL_ID:
        return key
    return f"{run_key.split(':', 1)[0]}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
