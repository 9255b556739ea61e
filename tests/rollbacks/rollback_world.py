"""A small deploy history for rollback tests: v1 healthy, v2 healthy, v3 degraded (the current deploy)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from deployments.models import Deploy
from deployments.services import deploy_record
from metrics.impact.models import ImpactReport
from rollbacks.models import RollbackEndpoint
from tracker import crypto
from tracker.models import Project

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
# The discard port on loopback: a send there fails at once, without DNS or the network.
UNREACHABLE = "http://127.0.0.1:9/rollback"


@dataclass
class History:
    v1: Deploy
    v2: Deploy
    v3: Deploy


def deploy(project: Project, version: str, hours_ago: float, verdict: str | None = None, **fields) -> Deploy:
    fields = {
        "finished_at": timezone.now() - timedelta(hours=hours_ago),
        "commit_sha": (version.replace(".", "") * 10)[:40],
        "model_name": "fraud-gbm",
        "model_version": version.split(".")[-1],
        "model_uri": f"models:/fraud-gbm/{version}",
        **fields,
    }
    row, _ = deploy_record(project=project, service="fraud-scorer", environment="production", version=version, **fields)
    if verdict:
        # The deploy task may already have made a pending report (tasks run in-process in tests).
        ImpactReport.objects.update_or_create(deploy=row, defaults={"verdict": verdict, "final": True})
    return row


def history(project: Project) -> History:
    return History(
        v1=deploy(project, "1.0", 30, "healthy"),
        v2=deploy(project, "2.0", 20, "healthy"),
        v3=deploy(project, "3.0", 2, "degraded"),
    )


def endpoint(
    project: Project, url: str = UNREACHABLE, fmt: str = "generic", token: str = "", **extra
) -> RollbackEndpoint:
    return RollbackEndpoint.objects.create(
        project=project,
        url=url,
        format=fmt,
        secret_encrypted=crypto.encrypt(SECRET),
        token_encrypted=crypto.encrypt(token) if token else "",
        **extra,
    )


@dataclass
class CanaryPair:
    champion: Deploy
    challenger: Deploy


def canary_pair(project: Project, verdict: str | None = None, **fields) -> CanaryPair:
    """A champion serving everything and a canary beside it with 10 % of the traffic (its baseline: the champion)."""
    champion = deploy(project, "4.0", 3, "healthy")
    fields = {"strategy": "canary", "traffic_percent": 10, **fields}
    challenger = deploy(project, "4.1", 0.5, verdict, **fields)
    # Judged beside its champion, as the analysis does when the champion's points name it.
    ImpactReport.objects.filter(deploy=challenger).update(mode="concurrent")
    assert challenger.baseline_id == champion.pk
    return CanaryPair(champion=champion, challenger=challenger)
