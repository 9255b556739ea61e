"""Delivery attempts: claim an outbox row, send it through the SSRF-guarded sender, log, retry or give up."""

from __future__ import annotations

import contextlib
import json
import logging
import smtplib
import time
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPEmailBackend
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from alerts.models import Channel, ChannelKind, Delivery, DeliveryAttempt, DeliveryStatus
from alerts.services.channels import outbound_policy
from alerts.services.writeback import status_headers
from tracker import crypto, outbound, signing
from tracker.services import audit_record

logger = logging.getLogger(__name__)

# A claim older than this belongs to a dead worker: the send gives up at its deadline (at most 30 s)
# and the task's hard time limit is 60 s. The sweep records such a claim as a failed try.
DELIVERY_LEASE = timedelta(seconds=60)
LEASE_EXPIRED = "the worker did not finish this try within the 60 s lease (it died or hit its time limit)"
TIME_LIMIT = "timed out: the worker's time limit ended the attempt"


def delivery_claim(*, delivery_id: int, now: datetime) -> bool:
    """Claim a due row by a conditional UPDATE: only one worker can move it to `sending`."""
    claimed = Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now).update(
        status=DeliveryStatus.SENDING, claimed_at=now
    )
    return claimed == 1


def delivery_attempt(*, delivery_id: int, now: datetime | None = None) -> DeliveryAttempt | None:
    """One try of a due delivery; returns the logged attempt (None when the row was not ours)."""
    now = now or timezone.now()
    if not delivery_claim(delivery_id=delivery_id, now=now):
        return None
    delivery = Delivery.objects.select_related("channel", "channel__project", "writeback").get(pk=delivery_id)
    channel = delivery.channel
    disable = None
    if channel is not None and not channel.enabled:
        result = outbound.Attempt(error=f"channel disabled: {channel.disabled_reason or 'by an admin'}", permanent=True)
    elif delivery.writeback is not None and not delivery.writeback.enabled:
        result = outbound.Attempt(error="status write-back turned off", permanent=True)
    else:
        result, disable = _send_recording_every_failure(delivery, channel)
    return _record(delivery, channel, result, now, disable=disable)


def _send_recording_every_failure(delivery: Delivery, channel: Channel | None) -> tuple[outbound.Attempt, str | None]:
    """The send as an attempt to record, whatever goes wrong; second: why to disable the channel, if so."""
    started = time.monotonic()
    try:
        return _send(delivery, channel), None
    except crypto.UndecryptableSecret as exc:
        return outbound.Attempt(error=str(exc)[:500], permanent=True), str(exc)
    except SoftTimeLimitExceeded:
        return outbound.Attempt(error=TIME_LIMIT, latency_ms=int((time.monotonic() - started) * 1000)), None
    except Exception as exc:
        logger.exception("delivery %s (channel %s) failed unexpectedly", delivery.pk, delivery.channel_id)
        error = f"internal error: {type(exc).__name__}"
        return outbound.Attempt(error=error, latency_ms=int((time.monotonic() - started) * 1000)), None


def _send(delivery: Delivery, channel: Channel | None) -> outbound.Attempt:
    if channel is None:
        return _send_status(delivery)
    if channel.kind == ChannelKind.EMAIL:
        return _send_email(delivery, channel)
    body = dict(delivery.payload)
    if channel.kind == ChannelKind.PAGERDUTY:
        url = settings.PAGERDUTY_CHANGE_URL if delivery.reason == "change" else settings.PAGERDUTY_EVENTS_URL
        body = {"routing_key": crypto.decrypt(channel.secret_encrypted), **body}
    else:
        url = crypto.decrypt(channel.url_encrypted)
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if channel.kind == ChannelKind.WEBHOOK:
        # Standard Webhooks: the id is the delivery's, the same on every retry; the timestamp is fresh.
        headers |= signing.sign_headers(crypto.decrypt(channel.secret_encrypted), delivery.message_id, raw)
    return outbound.send(url, body=raw, headers=headers, policy=outbound_policy())


def _send_status(delivery: Delivery) -> outbound.Attempt:
    """A verdict status to GitHub or GitLab: the body as built, the token added now (it is never stored here)."""
    writeback = delivery.writeback
    raw = json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", **status_headers(writeback)}
    return outbound.send(writeback.api_url + delivery.request_path, body=raw, headers=headers, policy=outbound_policy())


def _email(delivery: Delivery, channel: Channel, connection: object) -> EmailMultiAlternatives:
    """Plain text and HTML; every message of an alert group replies to the group's thread."""
    payload = delivery.payload
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip("> ") or "deploy-tracker"
    headers = {"Message-ID": f"<{delivery.message_id}@{domain}>"}
    if payload.get("thread"):
        thread = f"<{payload['thread']}@{domain}>"
        headers |= {"In-Reply-To": thread, "References": thread}
    message = EmailMultiAlternatives(
        payload["subject"],
        payload["text"],
        settings.DEFAULT_FROM_EMAIL,
        channel.email_to,
        headers=headers,
        connection=connection,
    )
    if payload.get("html"):
        message.attach_alternative(payload["html"], "text/html")
    return message


class _DeadlineSMTPBackend(SMTPEmailBackend):
    """Django's SMTP backend whose socket is shut down at the attempt's deadline, from the greeting on:
    a per-read timeout alone would let a server that drips its replies hold the worker indefinitely."""

    def __init__(self, *, deadline: outbound.Deadline, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.deadline = deadline

    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        deadline = self.deadline

        class Watched(super().connection_class):
            def _get_socket(self, host: str, port: int, timeout: float) -> object:
                sock = super()._get_socket(host, port, timeout)
                deadline.watch(sock)
                return sock

        return Watched


def _mail_connection(deadline: outbound.Deadline, seconds: int) -> object:
    if settings.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend":
        return _DeadlineSMTPBackend(deadline=deadline, fail_silently=False, timeout=seconds)
    return get_connection(fail_silently=False, timeout=seconds)


def _send_email(delivery: Delivery, channel: Channel) -> outbound.Attempt:
    """Within the outbound deadline, like every outbound call: a server that hangs is cut off at it."""
    started = time.monotonic()
    seconds = settings.OUTBOUND_TIMEOUT_SECONDS
    try:
        with outbound.Deadline(seconds) as deadline:
            connection = _mail_connection(deadline, seconds)
            connection.open()
            try:
                _email(delivery, channel, connection).send()
            finally:
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    connection.close()
    except smtplib.SMTPRecipientsRefused as exc:
        return outbound.Attempt(error=f"recipients refused: {exc.recipients}"[:500], permanent=True)
    except (smtplib.SMTPException, OSError) as exc:
        late = f"past the {seconds} s deadline: " if time.monotonic() - started >= seconds else ""
        error = f"{late}{type(exc).__name__}: {exc}"[:500]
        return outbound.Attempt(error=error, latency_ms=int((time.monotonic() - started) * 1000))
    return outbound.Attempt(status_code=250, latency_ms=int((time.monotonic() - started) * 1000))


def _record(
    delivery: Delivery, channel: Channel, result: outbound.Attempt, now: datetime, *, disable: str | None = None
) -> DeliveryAttempt:
    from alerts.tasks import delivery_send, enqueue_at  # tasks import services: imported at call time

    with transaction.atomic():
        # Counted from the locked row: a sweep may have recorded an expired lease of this try meanwhile.
        number = Delivery.objects.select_for_update().values_list("attempts", flat=True).get(pk=delivery.pk) + 1
        retry_at = _retry_at(result, number, now)
        attempt = DeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            at=now,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            response_excerpt=result.response_excerpt[:1024],
            error=result.error[:500],
            address=result.address,
            retry_at=retry_at,
        )
        if result.ok:
            status, fields = DeliveryStatus.DELIVERED, {"delivered_at": now, "last_error": ""}
        elif retry_at is not None:
            status, fields = DeliveryStatus.PENDING, {"next_attempt_at": retry_at, "last_error": result.error[:500]}
        else:
            status, fields = DeliveryStatus.FAILED, {"last_error": result.error[:500]}
        # Never step back from delivered, even if the sweep reclaimed the row meanwhile.
        Delivery.objects.filter(pk=delivery.pk).exclude(status=DeliveryStatus.DELIVERED).update(
            status=status, attempts=number, claimed_at=None, **fields
        )
        if channel is not None and channel.enabled:
            _account(channel, result, now, disable=disable)
        if retry_at is not None:
            enqueue_at(delivery_send, delivery.pk, eta=retry_at)
        if result.ok and channel is not None:
            _close_test_incident(delivery, channel, now)
    return attempt


def _close_test_incident(delivery: Delivery, channel: Channel, now: datetime) -> None:
    """A PagerDuty test opens an incident: resolve it once the trigger is in (sent after it, so never before)."""
    from alerts.tasks import delivery_send, enqueue_at  # tasks import services: imported at call time

    if channel.kind != ChannelKind.PAGERDUTY or delivery.reason != "test" or delivery.event_action != "trigger":
        return
    body = {"event_action": "resolve", "dedup_key": delivery.payload["dedup_key"]}
    resolve = Delivery.objects.create(
        project_id=delivery.project_id,
        channel=channel,
        reason="test",
        event_action="resolve",
        payload=body,
        next_attempt_at=now,
    )
    enqueue_at(delivery_send, resolve.pk, eta=None)


def _retry_at(result: outbound.Attempt, number: int, now: datetime) -> datetime | None:
    if result.ok or result.permanent or number >= settings.ALERT_DELIVERY_MAX_ATTEMPTS:
        return None
    delay = outbound.retry_delay(
        number,
        base=settings.ALERT_RETRY_BASE_SECONDS,
        cap=settings.ALERT_RETRY_CAP_SECONDS,
        retry_after=result.retry_after,
    )
    return now + timedelta(seconds=delay)


def _account(channel: Channel, result: outbound.Attempt, now: datetime, *, disable: str | None = None) -> None:
    """Count consecutive failures; 410 Gone, a long run of failures or an unreadable secret disables the channel."""
    if result.ok:
        Channel.objects.filter(pk=channel.pk).exclude(consecutive_failures=0).update(consecutive_failures=0)
        return
    Channel.objects.filter(pk=channel.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    failures = Channel.objects.values_list("consecutive_failures", flat=True).get(pk=channel.pk)
    if disable:
        reason = disable
    elif result.gone:
        reason = "the receiver answered 410 Gone"
    elif failures >= settings.ALERT_CHANNEL_DISABLE_AFTER:
        reason = f"{failures} delivery attempts in a row failed (last: {result.error})"
    else:
        return
    disabled = Channel.objects.filter(pk=channel.pk, enabled=True).update(
        enabled=False, disabled_reason=reason[:300], disabled_at=now
    )
    if disabled:
        audit_record(project=channel.project, action="channel.disabled", target=channel, details={"reason": reason})


def deliveries_due(*, now: datetime, limit: int = 500) -> list[int]:
    """Pending rows that are due (with a head start for the normal path); rows of dead workers are recorded
    as failed tries first, so a receiver that outlives every worker still runs out of retries."""
    grace = timedelta(seconds=settings.ALERT_SWEEP_GRACE_SECONDS)
    stale = Delivery.objects.filter(status=DeliveryStatus.SENDING, claimed_at__lt=now - DELIVERY_LEASE)
    for delivery_id, claimed_at in stale.values_list("pk", "claimed_at")[:limit]:
        delivery_lease_expired(delivery_id=delivery_id, claimed_at=claimed_at, now=now)
    due = Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now - grace)
    return list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def delivery_lease_expired(*, delivery_id: int, claimed_at: datetime, now: datetime) -> DeliveryAttempt | None:
    """Record a dead worker's claim as a failed try (retried with backoff, or the last one); once only."""
    # Conditional on the claim seen: of two sweeps (or a late worker) only one records it.
    taken = Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.SENDING, claimed_at=claimed_at).update(
        claimed_at=now
    )
    if taken != 1:
        return None
    delivery = Delivery.objects.select_related("channel", "channel__project").get(pk=delivery_id)
    return _record(delivery, delivery.channel, outbound.Attempt(error=LEASE_EXPIRED), now)
