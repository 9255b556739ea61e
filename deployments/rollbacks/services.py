"""Writes for rollback requests: create, dispatch through the outbox, callbacks, completion, expiry.

Every state change goes through `_move`, which applies the pure state machine with a
conditional UPDATE (`WHERE state = <what we read>`), so a callback, the dispatcher, the expiry
sweep and a completing deploy can race without one overwriting another's later state.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from deployments.models import Deploy, DeployEvent
from deployments.rollbacks import payloads
from deployments.rollbacks.models import RollbackAttempt, RollbackEndpoint, RollbackRequest
from deployments.rollbacks.selectors import deploy_facts, rollback_default_target
from deployments.rollbacks.states import OPEN_STATE_NAMES, TERMINAL_STATES, Move, RollbackState, check_move
from deployments.rollbacks.targets import completes_rollback, current_refusal, target_refusal
from tracker import crypto, outbound, signing
from tracker.api_errors import ApiError
from tracker.enqueue import enqueue
from tracker.models import ApiToken, Project
from tracker.services import audit_record

logger = logging.getLogger(__name__)

CALLBACK_TOKEN_PREFIX = "rbcb_"
# A claim older than this belongs to a dead worker (one send takes at most ~15 s).
DISPATCH_CLAIM_TIMEOUT = timedelta(minutes=2)
# Past this many failed tries the request fails rather than retrying until it expires.
DISPATCH_MAX_TRIES = 12


def callback_token_hash(raw: str) -> str:
    # 256 random bits: a plain SHA-256 is enough to store it (no stretching needed).
    return hashlib.sha256(raw.encode()).hexdigest()


def _open_conflict(deploy: Deploy) -> ApiError:
    existing = (
        RollbackRequest.objects.filter(
            service_id=deploy.service_id, environment_id=deploy.environment_id, state__in=OPEN_STATE_NAMES
        )
        .only("id", "state", "requested_by")
        .first()
    )
    detail = f" ({existing.state}, requested by {existing.requested_by}, id {existing.id})" if existing else ""
    return ApiError(
        "rollback_already_open",
        f"A rollback of {deploy.service.name} in {deploy.environment.name} is already open{detail}; "
        "wait for it to finish or expire.",
        409,
    )


def _resolve_target(deploy: Deploy, target: Deploy | None) -> Deploy:
    refusal = current_refusal(deploy_facts(deploy))
    if refusal is not None:
        raise ApiError(refusal.code, refusal.message, 409)
    if target is None:
        target = rollback_default_target(deploy=deploy)
        if target is None:
            raise ApiError(
                "no_default_target",
                "No earlier deploy was judged healthy; choose the target deploy explicitly.",
                409,
                {"target_id": ["required: no healthy earlier deploy to default to"]},
            )
    refusal = target_refusal(deploy_facts(deploy), deploy_facts(target))
    if refusal is not None:
        status = 409 if refusal.code == "target_is_current" else 400
        raise ApiError(refusal.code, refusal.message, status, {"target_id": [refusal.message]})
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

    Refused with a 409 when one is already open for the service and environment; the partial
    unique constraint makes that hold under concurrency too (the loser's INSERT fails).
    """
    endpoint = RollbackEndpoint.objects.filter(project_id=deploy.project_id).first()
    if endpoint is None:
        raise ApiError("rollback_endpoint_missing", "Configure the project's rollback endpoint first.", 409)
    target = _resolve_target(deploy, target)
    now = timezone.now()
    raw_token = CALLBACK_TOKEN_PREFIX + secrets.token_urlsafe(32)
    rollback = RollbackRequest(
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
        raise _open_conflict(deploy) from None
    _log(
        rollback,
        "rollback.requested",
        f"rollback to {target.version} requested by {rollback.requested_by}",
        user=user,
        token=token,
        details={"target": target.pk, "reason": reason},
    )
    _enqueue_dispatch(rollback.pk)
    return rollback


def _log(
    rollback: RollbackRequest,
    action: str,
    message: str,
    *,
    user: AbstractBaseUser | None = None,
    token: ApiToken | None = None,
    details: dict | None = None,
) -> None:
    """Audit log entry plus a line in the rolled-back deploy's event log (what the page shows)."""
    details = {"rollback": str(rollback.pk), **(details or {})}
    project = Project(pk=rollback.project_id)
    audit_record(project=project, action=action, user=user, token=token, target=rollback, details=details)
    DeployEvent.objects.create(deploy_id=rollback.deploy_id, kind=action, message=message[:500], details=details)


def _enqueue_dispatch(rollback_id: object) -> None:
    from deployments.rollbacks.tasks import rollback_dispatch

    enqueue(rollback_dispatch, str(rollback_id))


def _move(rollback: RollbackRequest, new: str, *, extra: dict | None = None) -> Move:
    """Apply the state machine to the row with a conditional UPDATE; refresh `rollback`."""
    move = check_move(rollback.state, new)
    if move is not Move.APPLIED:
        return move
    values = {"state": new, **(extra or {})}
    if RollbackState(new) in TERMINAL_STATES:
        values.update(finished_at=timezone.now(), dispatch_due_at=None, dispatch_claimed_at=None)
    updated = RollbackRequest.objects.filter(pk=rollback.pk, state=rollback.state).update(**values)
    if updated != 1:
        # Someone moved it first: judge again against what is there now.
        rollback.refresh_from_db()
        return _move(rollback, new, extra=extra) if rollback.state != new else Move.DUPLICATE
    for key, value in values.items():
        setattr(rollback, key, value)
    return Move.APPLIED


@dataclass(frozen=True)
class CallbackResult:
    rollback: RollbackRequest
    changed: bool


@transaction.atomic
def rollback_callback_apply(
    *, rollback: RollbackRequest, status: str, ci_url: str = "", message: str = "", token: ApiToken | None = None
) -> CallbackResult:
    """CI's progress report. A duplicate is a no-op; expired, backward or closed is a 409 that stores nothing."""
    rollback = RollbackRequest.objects.select_for_update().get(pk=rollback.pk)
    now = timezone.now()
    if rollback.state == RollbackState.EXPIRED or (rollback.is_open and rollback.expires_at <= now):
        raise ApiError(
            "rollback_expired", f"This rollback request expired at {rollback.expires_at:%Y-%m-%d %H:%M:%S} UTC.", 409
        )
    extra = {key: value for key, value in (("ci_url", ci_url), ("message", message)) if value}
    move = _move(rollback, status, extra=extra)
    if move is Move.DUPLICATE:
        return CallbackResult(rollback, changed=False)
    if move is Move.BACKWARD:
        raise ApiError(
            "backward_transition", f"The request is already {rollback.state}; it cannot go back to {status}.", 409
        )
    if move is Move.CLOSED:
        raise ApiError("rollback_closed", f"The request already ended as {rollback.state}.", 409)
    rollback.callbacks.create(status=status, outcome=move.value, ci_url=ci_url, message=message, via_token=token)
    _log(
        rollback,
        "rollback.callback",
        f"CI reported {status}" + (f": {message}" if message else ""),
        token=token,
        details={"status": status, "ci_url": ci_url, "message": message},
    )
    return CallbackResult(rollback, changed=True)


def rollback_message(*, rollback: RollbackRequest) -> payloads.RollbackMessage:
    """The outbound message, rebuilt from rows on every try (same content, same webhook-id)."""
    callback_path = reverse("api_rollback_status", args=[rollback.pk])
    return payloads.RollbackMessage(
        rollback_id=str(rollback.pk),
        project=rollback.project.slug,
        service=rollback.service.name,
        environment=rollback.environment.name,
        current=_deploy_ref(rollback.deploy),
        target=_deploy_ref(rollback.target),
        reason=rollback.reason,
        requested_by=rollback.requested_by,
        requested_at=rollback.requested_at,
        expires_at=rollback.expires_at,
        callback_url=settings.SITE_URL + callback_path,
        callback_token=crypto.decrypt(rollback.callback_token_encrypted),
    )


def _deploy_ref(deploy: Deploy) -> payloads.DeployRef:
    model = None
    if deploy.model_name or deploy.model_version or deploy.model_uri:
        model = payloads.ModelRef(deploy.model_name, deploy.model_version, deploy.model_uri, deploy.model_digest)
    return payloads.DeployRef(
        id=deploy.pk,
        version=deploy.version,
        commit_sha=deploy.commit_sha,
        ref=deploy.ref,
        model=model,
        url=settings.SITE_URL + deploy.get_absolute_url(),
    )


def endpoint_settings(endpoint: RollbackEndpoint) -> payloads.EndpointSettings:
    token = crypto.decrypt(endpoint.token_encrypted) if endpoint.token_encrypted else ""
    return payloads.EndpointSettings(
        format=payloads.EndpointFormat(endpoint.format), token=token, ref=endpoint.ref, event_type=endpoint.event_type
    )


def _claim_dispatch(rollback_id: str, now: datetime) -> bool:
    """Take the due send for this worker alone (a dead worker's stale claim may be taken over)."""
    stale = now - DISPATCH_CLAIM_TIMEOUT
    claimed = (
        RollbackRequest.objects.filter(pk=rollback_id, dispatch_due_at__lte=now, state__in=OPEN_STATE_NAMES)
        .exclude(dispatch_claimed_at__gt=stale)
        .update(dispatch_claimed_at=now)
    )
    return claimed == 1


def rollback_dispatch_attempt(*, rollback_id: str) -> float | None:
    """One try at sending the request; returns seconds until the next try, or None when done.

    The send happens outside any transaction (it can take 15 s); the claim keeps other
    workers away meanwhile, and the result is written with conditional UPDATEs.
    """
    now = timezone.now()
    if not _claim_dispatch(rollback_id, now):
        return None
    rollback = RollbackRequest.objects.select_related(
        "project", "service", "environment", "deploy", "target", "project__rollback_endpoint"
    ).get(pk=rollback_id)
    endpoint = rollback.project.rollback_endpoint
    try:
        body = payloads.encode_body(
            payloads.build_body(endpoint_settings(endpoint), rollback_message(rollback=rollback))
        )
    except payloads.PayloadError as exc:
        attempt = outbound.Attempt(error=str(exc), permanent=True)
    else:
        headers = {
            **payloads.provider_headers(endpoint_settings(endpoint)),
            **signing.sign_headers(crypto.decrypt(endpoint.secret_encrypted), str(rollback.pk), body),
        }
        attempt = outbound.send(
            endpoint.url, body=body, headers=headers, policy=outbound.OutboundPolicy.from_settings(settings)
        )
    return _dispatch_record(rollback, endpoint.url, attempt)


@transaction.atomic
def _dispatch_record(rollback: RollbackRequest, url: str, attempt: outbound.Attempt) -> float | None:
    number = rollback.dispatch_tries + 1
    RollbackAttempt.objects.create(
        request=rollback,
        number=number,
        url=url,
        status_code=attempt.status_code,
        latency_ms=attempt.latency_ms,
        error=attempt.error[:500],
        response_excerpt=attempt.response_excerpt,
    )
    outcome = "delivered" if attempt.ok else ("failed permanently" if attempt.permanent else "failed")
    _log(
        rollback,
        "rollback.dispatch_attempt",
        f"delivery try {number} {outcome}"
        + (f" ({attempt.error})" if attempt.error else f" (HTTP {attempt.status_code})"),
        details={"try": number, "status_code": attempt.status_code, "error": attempt.error},
    )
    base = RollbackRequest.objects.filter(pk=rollback.pk)
    if attempt.ok:
        base.update(dispatch_tries=number, dispatched_at=timezone.now(), dispatch_due_at=None, dispatch_claimed_at=None)
        if _move(rollback, RollbackState.DISPATCHED) is Move.APPLIED:
            _log(rollback, "rollback.dispatched", "request delivered to the rollback endpoint")
        return None
    if attempt.permanent or number >= DISPATCH_MAX_TRIES:
        base.update(dispatch_tries=number)
        message = f"could not deliver the request: {attempt.error}"[:1000]
        if _move(rollback, RollbackState.FAILED, extra={"message": message}) is Move.APPLIED:
            _log(rollback, "rollback.failed", message)
        return None
    delay = outbound.retry_delay(number, base=settings.ROLLBACK_RETRY_BASE_SECONDS, retry_after=attempt.retry_after)
    base.update(
        dispatch_tries=number,
        dispatch_due_at=timezone.now() + timedelta(seconds=delay),
        dispatch_claimed_at=None,
    )
    return delay


@transaction.atomic
def rollback_complete_by_deploy(*, deploy: Deploy) -> RollbackRequest | None:
    """A succeeded deploy of the open request's target (version or commit) completes it."""
    open_request = (
        RollbackRequest.objects.select_related("target")
        .filter(service_id=deploy.service_id, environment_id=deploy.environment_id, state__in=OPEN_STATE_NAMES)
        .first()
    )
    if open_request is None or not completes_rollback(deploy_facts(open_request.target), deploy_facts(deploy)):
        return None
    extra = {"completed_by": deploy, "message": f"completed by deploy {deploy.version}"}
    if _move(open_request, RollbackState.SUCCEEDED, extra=extra) is not Move.APPLIED:
        return None
    _log(open_request, "rollback.completed", f"completed by deploy {deploy.version}", details={"deploy": deploy.pk})
    DeployEvent.objects.create(
        deploy=deploy,
        kind="rollback.completed",
        message=f"completes the rollback request of {open_request.deploy_id}",
        details={"rollback": str(open_request.pk)},
    )
    return open_request


def rollbacks_expire(*, now: datetime | None = None) -> int:
    """Expire open requests past their deadline; returns how many expired."""
    now = now or timezone.now()
    expired = 0
    for rollback in RollbackRequest.objects.filter(state__in=OPEN_STATE_NAMES, expires_at__lte=now)[:500]:
        with transaction.atomic():
            if _move(rollback, RollbackState.EXPIRED) is Move.APPLIED:
                _log(rollback, "rollback.expired", f"no result from CI by {rollback.expires_at:%H:%M} UTC")
                expired += 1
    return expired


def rollbacks_due_for_dispatch(*, now: datetime | None = None) -> list[str]:
    """Ids whose send is due and unclaimed (or claimed by a dead worker): the outbox sweep's work."""
    now = now or timezone.now()
    due = RollbackRequest.objects.filter(dispatch_due_at__lte=now, state__in=OPEN_STATE_NAMES).exclude(
        dispatch_claimed_at__gt=now - DISPATCH_CLAIM_TIMEOUT
    )
    return [str(pk) for pk in due.values_list("pk", flat=True)[:500]]


@transaction.atomic
def rollback_endpoint_set(
    *,
    project: Project,
    url: str,
    format: str,
    secret: str | None = None,
    token: str | None = None,
    ref: str = "main",
    event_type: str = payloads.EVENT_TYPE,
    user: AbstractBaseUser | None = None,
    api_token: ApiToken | None = None,
) -> tuple[RollbackEndpoint, str | None]:
    """Create or replace the endpoint. Returns it and the signing secret when a new one was made.

    A secret or token left out keeps the stored one (they are write-only); a new endpoint
    without a secret gets a generated one, shown once.
    """
    try:
        outbound.check_url(url, policy=outbound.OutboundPolicy.from_settings(settings))
    except outbound.TransportError as exc:
        raise ApiError("invalid", "the rollback endpoint URL is not allowed", 400, {"url": [exc.message]}) from None
    endpoint = RollbackEndpoint.objects.select_for_update().filter(project=project).first()
    endpoint = endpoint or RollbackEndpoint(project=project)
    generated = None
    if secret:
        endpoint.secret_encrypted = crypto.encrypt(secret)
    elif not endpoint.secret_encrypted:
        generated = signing.secret_generate()
        endpoint.secret_encrypted = crypto.encrypt(generated)
    if token is not None:
        endpoint.token_encrypted = crypto.encrypt(token) if token else ""
    if format == payloads.EndpointFormat.GITLAB and not endpoint.token_encrypted:
        raise ApiError(
            "invalid",
            "a GitLab pipeline trigger needs its trigger token",
            400,
            {"token": ["required for the gitlab format"]},
        )
    endpoint.url, endpoint.format, endpoint.ref, endpoint.event_type = url, format, ref, event_type
    endpoint.updated_by = user if user is not None and user.is_authenticated else None
    endpoint.save()
    audit_record(
        project=project,
        action="rollback_endpoint.updated",
        user=user,
        token=api_token,
        target=endpoint,
        details={
            "url": url,
            "format": format,
            "secret_changed": bool(secret or generated),
            "token_changed": token is not None,
        },
    )
    return endpoint, generated
