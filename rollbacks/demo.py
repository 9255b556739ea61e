"""Demo rollback data: an example rollback endpoint and the completed request behind the demo's rollback deploy.

The demo's deploy history already contains a rollback deploy (fraud-scorer, production); this adds the
request that asked CI for it, as it would have been recorded: requested, delivered on the first try,
accepted and running per CI's callbacks, then completed by that deploy.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from deployments.models import Deploy, DeployEvent
from rollbacks.models import RollbackEndpoint, RollbackRequest
from rollbacks.services import CALLBACK_TOKEN_PREFIX, callback_token_hash
from tracker import crypto, signing
from tracker.models import Membership, Project
from tracker.services import audit_record

EXAMPLE_ENDPOINT = "https://ci.example.com/hooks/deploy-tracker/rollback"


def seed(*, project: Project) -> RollbackRequest | None:
    # An example only: requests made in the demo are tried against it and fail, as they should.
    RollbackEndpoint.objects.update_or_create(
        project=project,
        defaults={
            "url": EXAMPLE_ENDPOINT,
            "format": "generic",
            "secret_encrypted": crypto.encrypt(signing.secret_generate()),
        },
    )
    rollback_deploy = Deploy.objects.filter(project=project, is_rollback=True).order_by("-deployed_at").first()
    if rollback_deploy is None:
        return None
    undone = rollback_deploy.rolled_back_deploys.order_by("-deployed_at").first()
    restored = (
        Deploy.objects.filter(
            service_id=rollback_deploy.service_id,
            environment_id=rollback_deploy.environment_id,
            version=rollback_deploy.version,
            deployed_at__lt=rollback_deploy.deployed_at,
        )
        .order_by("-deployed_at")
        .first()
    )
    if undone is None or restored is None:
        return None
    return _completed_request(project, undone, restored, rollback_deploy)


def _completed_request(project: Project, undone: Deploy, restored: Deploy, done: Deploy) -> RollbackRequest:
    requested_at = done.deployed_at - timedelta(minutes=14)
    member = Membership.objects.filter(project=project).select_related("user").first()
    token = CALLBACK_TOKEN_PREFIX + secrets.token_urlsafe(32)
    rollback = RollbackRequest.objects.create(
        project=project,
        service_id=undone.service_id,
        environment_id=undone.environment_id,
        deploy=undone,
        target=restored,
        state="succeeded",
        reason="p99 latency up 40% and approval rate down since this release",
        requested_by=member.user.get_username() if member else "on-call",
        requested_by_user=member.user if member else None,
        callback_token_hash=callback_token_hash(token),
        callback_token_encrypted=crypto.encrypt(token),
        requested_at=requested_at,
        expires_at=requested_at + timedelta(hours=1),
        dispatched_at=requested_at + timedelta(seconds=2),
        finished_at=done.deployed_at,
        ci_url="https://ci.example.com/fraud-scorer/runs/rollback-1",
        message=f"completed by deploy {done.version}",
        completed_by=done,
        dispatch_tries=1,
    )
    attempt = rollback.attempts.create(number=1, url=EXAMPLE_ENDPOINT, status_code=202, latency_ms=184)
    type(attempt).objects.filter(pk=attempt.pk).update(at=rollback.dispatched_at)
    for minutes, status in ((1, "accepted"), (3, "running")):
        callback = rollback.callbacks.create(status=status, outcome="applied", ci_url=rollback.ci_url)
        type(callback).objects.filter(pk=callback.pk).update(at=requested_at + timedelta(minutes=minutes))
    _history(project, rollback, undone, done)
    return rollback


def _history(project: Project, rollback: RollbackRequest, undone: Deploy, done: Deploy) -> None:
    """The audit entries and deploy-log lines the live flow writes, at the times they would have happened."""
    details = {"rollback": str(rollback.pk)}
    start = rollback.requested_at
    lines = [
        (0, "rollback.requested", f"rollback to {rollback.target.version} requested by {rollback.requested_by}"),
        (0.05, "rollback.dispatch_attempt", "delivery try 1 delivered (HTTP 202)"),
        (0.05, "rollback.dispatched", "request delivered to the rollback endpoint"),
        (1, "rollback.callback", "CI reported accepted"),
        (3, "rollback.callback", "CI reported running"),
        (14, "rollback.completed", f"completed by deploy {done.version}"),
    ]
    for minutes, action, message in lines:
        at = start + timedelta(minutes=minutes)
        entry = audit_record(project=project, action=action, target=rollback, details=details)
        type(entry).objects.filter(pk=entry.pk).update(at=at)
        event = DeployEvent.objects.create(deploy=undone, kind=action, message=message, details=details)
        DeployEvent.objects.filter(pk=event.pk).update(at=at)
    DeployEvent.objects.create(
        deploy=done,
        kind="rollback.completed",
        message=f"completes the rollback request of {undone.version}",
        details=details,
    )
