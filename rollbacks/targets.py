"""Choosing and vetting the deploy a rollback returns to, and the deploy a promotion gives the traffic.

Pure module: the selector loads plain `DeployFacts` rows and these functions decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

# Verdicts that make a deploy a good place to return to.
GOOD_VERDICTS = frozenset({"healthy", "improved"})
# Verdicts that mean "not judged yet": before analysis exists, the baseline is the target.
UNJUDGED_VERDICTS = frozenset({"", "pending", "insufficient_data"})


@dataclass(frozen=True)
class DeployFacts:
    id: int
    service_id: int
    environment_id: int
    version: str
    commit_sha: str
    status: str
    deployed_at: datetime
    verdict: str | None = None


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str


def _same_release(a: DeployFacts, b: DeployFacts) -> bool:
    return a.version == b.version and a.commit_sha == b.commit_sha


def default_target(
    current: DeployFacts,
    candidates: Sequence[DeployFacts],
    baseline_id: int | None,
) -> DeployFacts | None:
    """The newest earlier deploy judged healthy or improved; before analysis, the baseline.

    `candidates` are the earlier succeeded deploys of the same service and environment,
    newest first. None means there is no safe default and the person must pick one.
    """
    usable = [c for c in candidates if target_refusal(current, c) is None]
    for candidate in usable:
        if candidate.verdict in GOOD_VERDICTS:
            return candidate
    baseline = next((c for c in usable if c.id == baseline_id), None)
    if baseline is not None and (baseline.verdict or "") in UNJUDGED_VERDICTS:
        return baseline
    return None


def target_refusal(current: DeployFacts, target: DeployFacts) -> Refusal | None:
    """Why `target` cannot be the rollback target for `current`, or None when it can."""
    if target.id == current.id or _same_release(target, current):
        return Refusal(
            "target_is_current",
            "The target is the deploy being rolled back; pick an earlier deploy.",
        )
    if (target.service_id, target.environment_id) != (
        current.service_id,
        current.environment_id,
    ):
        return Refusal(
            "target_mismatch",
            "The target must be a deploy of the same service and environment.",
        )
    if target.deployed_at >= current.deployed_at:
        return Refusal(
            "target_not_earlier",
            "The target must be an earlier deploy than the one rolled back.",
        )
    if target.status != "succeeded":
        return Refusal(
            "target_not_succeeded",
            "The target must be a deploy that succeeded and was not rolled back.",
        )
    return None


def current_refusal(current: DeployFacts) -> Refusal | None:
    """Why `current` cannot be rolled back at all, or None when it can."""
    if current.status == "rolled_back":
        return Refusal("already_rolled_back", "This deploy has already been rolled back.")
    return None


# Statuses that leave nothing to promote.
_UNPROMOTABLE = {
    "failed": "This deploy failed: it never went out, so there is nothing to promote.",
    "rolled_back": "This deploy has been rolled back; it cannot be promoted.",
}


def promotion_refusal(
    *, status: str, runs_beside_baseline: bool, baseline_id: int | None, promoted: bool = False
) -> Refusal | None:
    """Why a deploy cannot be promoted, or None when it can.

    Only a deploy that runs beside its baseline (canary, A/B, shadow, or less than 100 % of the traffic)
    has anything to be promoted to; it also needs the baseline whose traffic it takes over.
    """
    if status in _UNPROMOTABLE:
        return Refusal("not_promotable", _UNPROMOTABLE[status])
    if promoted:
        return Refusal("already_promoted", "This deploy has been promoted: CI reported the promotion succeeded.")
    if not runs_beside_baseline:
        return Refusal(
            "not_promotable",
            "Only a canary, A/B or shadow deploy (or one with less than 100 % of the traffic) can be promoted; "
            "this deploy already has all of it.",
        )
    if baseline_id is None:
        return Refusal("no_baseline", "This deploy has no baseline to take the traffic from.")
    return None


@dataclass(frozen=True)
class SchemaChange:
    """Input columns that differ between the target's traffic and what the service receives now."""

    missing: tuple[str, ...]  # the target saw them, the service no longer sends them
    added: tuple[str, ...]  # the service sends them now, the target never saw them

    @property
    def differs(self) -> bool:
        return bool(self.missing or self.added)


def schema_change(target_columns: Iterable[str], current_columns: Iterable[str]) -> SchemaChange:
    target, current = set(target_columns), set(current_columns)
    return SchemaChange(missing=tuple(sorted(target - current)), added=tuple(sorted(current - target)))


def completes_rollback(target: DeployFacts, deploy: DeployFacts) -> bool:
    """Whether a newly recorded deploy is the rollback to `target` having happened.

    The same service and environment, succeeded, and the target's version or (when both are
    known) its commit SHA: CI may rebuild the target under a new version string.
    """
    if (deploy.service_id, deploy.environment_id) != (
        target.service_id,
        target.environment_id,
    ):
        return False
    if deploy.status != "succeeded" or deploy.id == target.id:
        return False
    same_sha = bool(target.commit_sha) and deploy.commit_sha == target.commit_sha
    return deploy.version == target.version or same_sha
