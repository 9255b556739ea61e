"""The outbox: send a request to the project's rollback endpoint, signed, claimed by one worker, retried."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
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

logger = logging.getLogger(__name__)

# A claim older than this belongs to a dead worker (one send ends at its deadline, at most 30 s, and the
# task's hard time limit is 60 s); the next taker records it as a failed try.
DISPATCH_CLAIM_TIMEOUT = timedelta(minutes=2)
# Past this many failed tries the request fails rather than retrying until it expires.
DISPATCH_MAX_TRIES = 12
LEASE_EXPIRED = "the worker did not finish this try within the 2 minute lease (it died or hit its time limit)"
TIME_LIMIT = "timed out: the worker's time limit ended the attempt"


def rollback_message(*, rollback: RollbackRequest) -> payloads.RollbackMessage:
    """The outbound message, rebuilt from rows on every try (same content, same webhook-id)."""
    callback_path = reverse(f"api_{rollback.kind}_status", args=[rollback.pk])
    return payloads.RollbackMessage(
        kind=rollback.kind,
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
    """Take the due, unclaimed send for this worker alone."""
    claimed = RollbackRequest.objects.filter(
        pk=rollback_id, dispatch_due_at__lte=now, state__in=OPEN_STATE_NAMES, dispatch_claimed_at=None
    ).update(dispatch_claimed_at=now)
    return claimed == 1


def _take_expired_claim(rollback_id: str, now: datetime) -> bool:
    """Take over a dead worker's claim, once: conditional on the claim seen, so only one taker records it."""
    stale = RollbackRequest.objects.filter(
        pk=rollback_id, state__in=OPEN_STATE_NAMES, dispatch_claimed_at__lte=now - DISPATCH_CLAIM_TIMEOUT
    )
    claimed_at = stale.values_list("dispatch_claimed_at", flat=True).first()
    if claimed_at is None:
        return False
    return stale.filter(dispatch_claimed_at=claimed_at).update(dispatch_claimed_at=now) == 1


def rollback_dispatch_attempt(*, rollback_id: str) -> float | None:
    """One try at sending the request; returns seconds until the next try, or None when done.

    The send happens outside any transaction (it can take up to the outbound deadline); the claim
    keeps other workers away meanwhile, and the result is written with conditional UPDATEs. A claim
    a dead worker left behind counts as a failed try, so retries end even if every try kills its worker.
    """
    now = timezone.now()
    if _take_expired_claim(rollback_id, now):
        rollback = _load(rollback_id)
        return _dispatch_record(rollback, rollback.project.rollback_endpoint.url, outbound.Attempt(error=LEASE_EXPIRED))
    if not _claim_dispatch(rollback_id, now):
        return None
    rollback = _load(rollback_id)
    endpoint = rollback.project.rollback_endpoint
    return _dispatch_record(rollback, endpoint.url, _send_recording_every_failure(rollback, endpoint))


def _load(rollback_id: str) -> RollbackRequest:
    return RollbackRequest.objects.select_related(
        "project", "service", "environment", "deploy", "target", "project__rollback_endpoint"
    ).get(pk=rollback_id)


def _send_recording_every_failure(rollback: RollbackRequest, endpoint: RollbackEndpoint) -> outbound.Attempt:
    """The send as an attempt to record, whatever goes wrong (nothing raises out of the task)."""
    started = time.monotonic()
    try:
        return _send(rollback, endpoint)
    except (payloads.PayloadError, crypto.UndecryptableSecret) as exc:
        return outbound.Attempt(error=str(exc)[:500], permanent=True)
    except SoftTimeLimitExceeded:
        return outbound.Attempt(error=TIME_LIMIT, latency_ms=int((time.monotonic() - started) * 1000))
    except Exception as exc:
        logger.exception("rollback request %s could not be sent", rollback.pk)
        error = f"internal error: {type(exc).__name__}"
        return outbound.Attempt(error=error, latency_ms=int((time.monotonic() - started) * 1000))


def _send(rollback: RollbackRequest, endpoint: RollbackEndpoint) -> outbound.Attempt:
    provider = endpoint_settings(endpoint)
    body = payloads.encode_body(payloads.build_body(provider, rollback_message(rollback=rollback)))
    headers = {
        **payloads.provider_headers(provider),
        **signing.sign_headers(crypto.decrypt(endpoint.secret_encrypted), str(rollback.pk), body),
    }
    return outbound.send(
        endpoint.url, body=body, headers=headers, policy=outbound.OutboundPolicy.from_settings(settings)
    )


@transaction.atomic
def _dispatch_record(rollback: RollbackRequest, url: str, attempt: outbound.Attempt) -> float | None:
    # Counted from the locked row: another taker may have recorded this try's expired claim meanwhile.
    tries = RollbackRequest.objects.select_for_update().values_list("dispatch_tries", flat=True).get(pk=rollback.pk)
    number = tries + 1
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
            log_event(rollback, "rollback.dispatched", f"{rollback.kind} request delivered to the release endpoint")
        return None
    if attempt.permanent or number >= DISPATCH_MAX_TRIES:
        # Nothing more to send, even if a callback moved the request on meanwhile and it stays open.
        base.update(dispatch_tries=number, dispatch_due_at=None, dispatch_claimed_at=None)
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
    """Ids whose send is due and unclaimed, or claimed by a dead worker (whose try the dispatch records)."""
    now = now or timezone.now()
    open_ = RollbackRequest.objects.filter(state__in=OPEN_STATE_NAMES)
    due = open_.filter(dispatch_due_at__lte=now, dispatch_claimed_at=None) | open_.filter(
        dispatch_claimed_at__lte=now - DISPATCH_CLAIM_TIMEOUT
    )
    return [str(pk) for pk in due.values_list("pk", flat=True)[:500]]
