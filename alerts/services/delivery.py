"""Delivery attempts: claim an outbox row, send it through the SSRF-guarded sender, log, retry or give up."""

from __future__ import annotations

import json
import smtplib
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from alerts.models import Channel, ChannelKind, Delivery, DeliveryAttempt, DeliveryStatus
from alerts.services.channels import outbound_policy
from tracker import crypto, outbound, signing
from tracker.services import audit_record

# A claim older than this belongs to a dead worker (the sender gives up after 15 s).
DELIVERY_LEASE = timedelta(seconds=60)


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
    delivery = Delivery.objects.select_related("channel", "channel__project").get(pk=delivery_id)
    channel = delivery.channel
    if not channel.enabled:
        result = outbound.Attempt(error=f"channel disabled: {channel.disabled_reason or 'by an admin'}", permanent=True)
    else:
        result = _send(delivery, channel)
    return _record(delivery, channel, result, now)


def _send(delivery: Delivery, channel: Channel) -> outbound.Attempt:
    if channel.kind == ChannelKind.EMAIL:
        return _send_email(delivery, channel)
    body = dict(delivery.payload)
    if channel.kind == ChannelKind.PAGERDUTY:
        url = settings.PAGERDUTY_EVENTS_URL
        body = {"routing_key": crypto.decrypt(channel.secret_encrypted), **body}
    else:
        url = crypto.decrypt(channel.url_encrypted)
    raw = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json"}
    if channel.kind == ChannelKind.WEBHOOK:
        # Standard Webhooks: the id is the delivery's, the same on every retry; the timestamp is fresh.
        headers |= signing.sign_headers(crypto.decrypt(channel.secret_encrypted), delivery.message_id, raw)
    return outbound.send(url, body=raw, headers=headers, policy=outbound_policy())


def _send_email(delivery: Delivery, channel: Channel) -> outbound.Attempt:
    started = time.monotonic()
    try:
        send_mail(
            delivery.payload["subject"],
            delivery.payload["text"],
            settings.DEFAULT_FROM_EMAIL,
            channel.email_to,
            fail_silently=False,
        )
    except smtplib.SMTPRecipientsRefused as exc:
        return outbound.Attempt(error=f"recipients refused: {exc.recipients}"[:500], permanent=True)
    except (smtplib.SMTPException, OSError) as exc:
        return outbound.Attempt(error=f"{type(exc).__name__}: {exc}"[:500])
    return outbound.Attempt(status_code=250, latency_ms=int((time.monotonic() - started) * 1000))


def _record(delivery: Delivery, channel: Channel, result: outbound.Attempt, now: datetime) -> DeliveryAttempt:
    from alerts.tasks import delivery_send, enqueue_at  # tasks import services: imported at call time

    number = delivery.attempts + 1
    retry_at = _retry_at(result, number, now)
    with transaction.atomic():
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
        if channel.enabled:
            _account(channel, result, now)
        if retry_at is not None:
            enqueue_at(delivery_send, delivery.pk, eta=retry_at)
    return attempt


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


def _account(channel: Channel, result: outbound.Attempt, now: datetime) -> None:
    """Count consecutive failures; 410 Gone or a long run of failures disables the channel."""
    if result.ok:
        Channel.objects.filter(pk=channel.pk).exclude(consecutive_failures=0).update(consecutive_failures=0)
        return
    Channel.objects.filter(pk=channel.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    failures = Channel.objects.values_list("consecutive_failures", flat=True).get(pk=channel.pk)
    if result.gone:
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
    """Pending rows that are due (with a head start for the normal path) and rows of dead workers."""
    grace = timedelta(seconds=settings.ALERT_SWEEP_GRACE_SECONDS)
    stale = Q(status=DeliveryStatus.SENDING, claimed_at__lt=now - DELIVERY_LEASE)
    Delivery.objects.filter(stale).update(status=DeliveryStatus.PENDING, claimed_at=None)
    due = Delivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now - grace)
    return list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])
