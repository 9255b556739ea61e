"""The outbox: send a request to the project's rollback endpoint, signed, claimed by one worker, retried."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from deployments.models import Deploy
from rollbacks import payloads
from rollbacks.models import RollbackAttempt, RollbackEndpoint, RollbackRequest
from rollbacks.services.common import log_event, move
from rollbacks.states import OPEN_STATE_NAMES, Move, RollbackState
from tracker import crypto, outbound, signing

# A claim older than this belongs to a dead worker (one send takes at most ~15 s).
DISPATCH_CLAIM_TIMEOUT = timedelta(minutes=2)
# Past this many failed tries the request fails rather than retrying until it expires.
DISPATCH_MAX_TRIES = 12


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
    log_event(
        rollback,
        "rollback.dispatch_attempt",
        f"delivery try {number} {outcome}"
        + (f" ({attempt.error})" if attempt.error else f" (HTTP {attempt.status_code})"),
        details={"try": number, "status_code": attempt.status_code, "error": attempt.error},
    )
    base = RollbackRequest.objects.filter(pk=rollback.pk)
    if attempt.ok:
        base.update(dispatch_tries=number, dispatched_at=timezone.now(), dispatch_due_at=None, dispatch_claimed_at=None)
        if move(rollback, RollbackState.DISPATCHED) is Move.APPLIED:
            log_event(rollback, "rollback.dispatched", "request delivered to the rollback endpoint")
        return None
    if attempt.permanent or number >= DISPATCH_MAX_TRIES:
        base.update(dispatch_tries=number)
        message = f"could not deliver the request: {attempt.error}"[:1000]
        if move(rollback, RollbackState.FAILED, extra={"message": message}) is Move.APPLIED:
            log_event(rollback, "rollback.failed", message)
        return None
    delay = outbound.retry_delay(number, base=settings.ROLLBACK_RETRY_BASE_SECONDS, retry_after=attempt.retry_after)
    base.update(
        dispatch_tries=number,
        dispatch_due_at=timezone.now() + timedelta(seconds=delay),
        dispatch_claimed_at=None,
    )
    return delay


def rollbacks_due_for_dispatch(*, now: datetime | None = None) -> list[str]:
    """Ids whose send is due and unclaimed (or claimed by a dead worker): the outbox sweep's work."""
    now = now or timezone.now()
    due = RollbackRequest.objects.filter(dispatch_due_at__lte=now, state__in=OPEN_STATE_NAMES).exclude(
        dispatch_claimed_at__gt=now - DISPATCH_CLAIM_TIMEOUT
    )
    return [str(pk) for pk in due.values_list("pk", flat=True)[:500]]
