"""Release requests: open a rollback or a promotion, take CI's callbacks, complete a rollback by a deploy,
expire either."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments.models import Deploy, DeployEvent, Status
from rollbacks.models import RollbackEndpoint, RollbackRequest
from rollbacks.selectors import deploy_facts, rollback_default_target
from rollbacks.services.common import log_event, move
from rollbacks.states import OPEN_STATE_NAMES, Move, RequestKind, RollbackState
from rollbacks.targets import completes_rollback, current_refusal, promotion_refusal, target_refusal
from tracker import crypto
from tracker.enqueue import enqueue
from tracker.errors import Conflict, DomainError, Invalid
from tracker.models import ApiToken

logger = logging.getLogger(__name__)

CALLBACK_TOKEN_PREFIX = "rbcb_"


def callback_token_hash(raw: str) -> str:
    # 256 random bits: a plain SHA-256 is enough to store it (no stretching needed).
    return hashlib.sha256(raw.encode()).hexdigest()


def _open_conflict(deploy: Deploy, kind: str = RequestKind.ROLLBACK) -> Conflict:
    existing = (
        RollbackRequest.objects.filter(
            service_id=deploy.service_id, environment_id=deploy.environment_id, kind=kind, state__in=OPEN_STATE_NAMES
        )
        .only("id", "state", "requested_by")
        .first()
    )
    detail = f" ({existing.state}, requested by {existing.requested_by}, id {existing.id})" if existing else ""
    return Conflict(
        f"A {kind} of {deploy.service.name} in {deploy.environment.name} is already open{detail}; "
        "wait for it to finish or expire.",
        code=f"{kind}_already_open",
    )


def _resolve_target(deploy: Deploy, target: Deploy | None) -> Deploy:
    refusal = current_refusal(deploy_facts(deploy))
    if refusal is not None:
        raise Conflict(refusal.message, code=refusal.code)
    if target is None:
        target = rollback_default_target(deploy=deploy)
        if target is None:
            raise Conflict(
                "No earlier deploy was judged healthy; choose the target deploy explicitly.",
                code="no_default_target",
                fields={"target_id": ["required: no healthy earlier deploy to default to"]},
            )
    refusal = target_refusal(deploy_facts(deploy), deploy_facts(target))
    if refusal is not None:
        kind: type[DomainError] = Conflict if refusal.code == "target_is_current" else Invalid
        raise kind(refusal.message, code=refusal.code, fields={"target_id": [refusal.message]})
    return target


def _requester_label(user: AbstractBaseUser | None, token: ApiToken | None) -> str:
    if user is not None and user.is_authenticated:
        return user.get_username()
    return f"token {token.name}" if token is not None else "system"


@transaction.atomic
def rollback_request_create(
    *,
    deploy: Deploy,
    target: Deploy | None = None,
    reason: str = "",
    user: AbstractBaseUser | None = None,
    token: ApiToken | None = None,
) -> RollbackRequest:
    """Open a rollback request from `deploy` to `target` (default: the last healthy deploy).

    Refused (a Conflict) when one is already open for the service and environment; the partial
    unique constraint makes that hold under concurrency too (the loser's INSERT fails).
    """
    _require_endpoint(deploy)
    target = _resolve_target(deploy, target)
    rollback = _open(RequestKind.ROLLBACK, deploy=deploy, target=target, reason=reason, user=user, token=token)
    log_event(
        rollback,
        "rollback.requested",
        f"rollback to {target.version} requested by {rollback.requested_by}",
        user=user,
        token=token,
        details={"target": target.pk, "reason": reason},
    )
    _enqueue_dispatch(rollback.pk)
    return rollback


@transaction.atomic
def promotion_request_create(
    *,
    deploy: Deploy,
    reason: str = "",
    user: AbstractBaseUser | None = None,
    token: ApiToken | None = None,
) -> RollbackRequest:
    """Ask CI to give `deploy` (a canary, A/B or shadow deploy) the traffic of its baseline.

    Sent as a signed `promotion.requested` to the project's release (rollback) endpoint, through the
    same outbox and state machine as a rollback; CI's callback `succeeded` completes it. Refused (a
    Conflict) for a deploy that does not run beside a baseline, or while a promotion of the service and
    environment is open.
    """
    _require_endpoint(deploy)
    promoted = RollbackRequest.objects.filter(
        kind=RequestKind.PROMOTION, deploy=deploy, state=RollbackState.SUCCEEDED
    ).exists()
    refusal = promotion_refusal(
        status=deploy.status,
        runs_beside_baseline=deploy.runs_beside_baseline,
        baseline_id=deploy.baseline_id,
        promoted=promoted,
    )
    if refusal is not None:
        raise Conflict(refusal.message, code=refusal.code)
    baseline = Deploy.objects.get(pk=deploy.baseline_id)
    promotion = _open(RequestKind.PROMOTION, deploy=deploy, target=baseline, reason=reason, user=user, token=token)
    log_event(
        promotion,
        "rollback.requested",
        f"promotion of {deploy.version} over {baseline.version} requested by {promotion.requested_by}",
        user=user,
        token=token,
        details={"baseline": baseline.pk, "reason": reason},
    )
    _enqueue_dispatch(promotion.pk)
    return promotion


def _require_endpoint(deploy: Deploy) -> None:
    if not RollbackEndpoint.objects.filter(project_id=deploy.project_id).exists():
        raise Conflict("Configure the project's rollback endpoint first.", code="rollback_endpoint_missing")


def _open(
    kind: RequestKind,
    *,
    deploy: Deploy,
    target: Deploy,
    reason: str,
    user: AbstractBaseUser | None,
    token: ApiToken | None,
) -> RollbackRequest:
    """Insert the request, due for dispatch now; the partial unique constraint refuses a second open one."""
    now = timezone.now()
    raw_token = CALLBACK_TOKEN_PREFIX + secrets.token_urlsafe(32)
    rollback = RollbackRequest(
        kind=kind.value,
        project_id=deploy.project_id,
        service_id=deploy.service_id,
        environment_id=deploy.environment_id,
        deploy=deploy,
        target=target,
        state=RollbackState.REQUESTED,
        reason=reason,
        requested_by=_requester_label(user, token),
        requested_by_user=user if user is not None and user.is_authenticated else None,
        requested_by_token=token,
        callback_token_hash=callback_token_hash(raw_token),
        callback_token_encrypted=crypto.encrypt(raw_token),
        requested_at=now,
        expires_at=now + timedelta(minutes=settings.ROLLBACK_EXPIRY_MINUTES),
        dispatch_due_at=now,
    )
    try:
        with transaction.atomic():
            rollback.save(force_insert=True)
    except IntegrityError:
        raise _open_conflict(deploy, kind) from None
    return rollback


def _enqueue_dispatch(rollback_id: object) -> None:
    from rollbacks.tasks import rollback_dispatch

    enqueue(rollback_dispatch, str(rollback_id))


@dataclass(frozen=True)
class CallbackResult:
    rollback: RollbackRequest
    changed: bool


# What a refused report is told, by what the state machine said (all conflicts: they change nothing).
_REFUSALS = {
    Move.BACKWARD: ("backward_transition", "The request is already {state}; it cannot go back to {status}."),
    Move.CLOSED: ("rollback_closed", "The request already ended as {state}."),
}


@transaction.atomic
def rollback_callback_apply(
    *, rollback: RollbackRequest, status: str, ci_url: str = "", message: str = "", token: ApiToken | None = None
) -> CallbackResult:
    """CI's progress report. A duplicate is a no-op; expired, backward or closed is a Conflict that stores nothing."""
    rollback = RollbackRequest.objects.select_for_update().get(pk=rollback.pk)
    if rollback.state == RollbackState.EXPIRED or (rollback.is_open and rollback.expires_at <= timezone.now()):
        logger.info("refused %s report for expired %s %s", status, rollback.kind, rollback.pk)
        raise Conflict(
            f"This {rollback.kind} request expired at {rollback.expires_at:%Y-%m-%d %H:%M:%S %Z}.",
            code="rollback_expired",
        )
    extra = {key: value for key, value in (("ci_url", ci_url), ("message", message)) if value}
    outcome = move(rollback, status, extra=extra)
    if outcome is Move.DUPLICATE:
        return CallbackResult(rollback, changed=False)
    if outcome in _REFUSALS:
        logger.info("refused %s report for %s %s in state %s", status, rollback.kind, rollback.pk, rollback.state)
        code, text = _REFUSALS[outcome]
        raise Conflict(text.format(state=rollback.state, status=status), code=code)
    rollback.callbacks.create(status=status, outcome=outcome.value, ci_url=ci_url, message=message, via_token=token)
    text = f"CI reported {status}" + (f": {message}" if message else "")
    details = {"status": status, "ci_url": ci_url, "message": message}
    log_event(rollback, "rollback.callback", text, token=token, details=details)
    return CallbackResult(rollback, changed=True)


@transaction.atomic
def rollback_complete_by_deploy(*, deploy: Deploy) -> RollbackRequest | None:
    """A succeeded deploy of the open rollback's target (version or commit) completes it (promotions complete
    by CI's callback alone)."""
    open_request = (
        RollbackRequest.objects.select_related("target")
        .filter(
            service_id=deploy.service_id,
            environment_id=deploy.environment_id,
            kind=RequestKind.ROLLBACK,
            state__in=OPEN_STATE_NAMES,
        )
        .first()
    )
    if open_request is None or not completes_rollback(deploy_facts(open_request.target), deploy_facts(deploy)):
        return None
    extra = {"completed_by": deploy, "message": f"completed by deploy {deploy.version}"}
    if move(open_request, RollbackState.SUCCEEDED, extra=extra) is not Move.APPLIED:
        return None
    log_event(
        open_request, "rollback.completed", f"completed by deploy {deploy.version}", details={"deploy": deploy.pk}
    )
    DeployEvent.objects.create(
        deploy=deploy,
        kind="rollback.completed",
        message=f"completes the rollback request of {open_request.deploy_id}",
        details={"rollback": str(open_request.pk)},
    )
    return open_request


def rollbacks_complete_missed() -> int:
    """The sweep's half of the completion a processed deploy triggers by message: an open request with a
    deploy of its stream processed since it was requested that completes it. Returns how many completed."""
    completed = 0
    for rollback in RollbackRequest.objects.filter(kind=RequestKind.ROLLBACK, state__in=OPEN_STATE_NAMES)[:500]:
        candidates = Deploy.objects.filter(
            service_id=rollback.service_id,
            environment_id=rollback.environment_id,
            status=Status.SUCCEEDED,
            processed_at__gte=rollback.requested_at,
        ).order_by("processed_at", "pk")
        target = deploy_facts(rollback.target)
        deploy = next((d for d in candidates if completes_rollback(target, deploy_facts(d))), None)
        if deploy is not None and rollback_complete_by_deploy(deploy=deploy) is not None:
            completed += 1
    return completed


def rollbacks_expire(*, now: datetime | None = None) -> int:
    """Expire open requests past their deadline; returns how many expired."""
    now = now or timezone.now()
    expired = 0
    for rollback in RollbackRequest.objects.filter(state__in=OPEN_STATE_NAMES, expires_at__lte=now)[:500]:
        with transaction.atomic():
            if move(rollback, RollbackState.EXPIRED) is Move.APPLIED:
                log_event(rollback, "rollback.expired", f"no result from CI by {rollback.expires_at:%H:%M} UTC")
                expired += 1
    return expired
