"""Alert channels: create, change, delete and test them; secrets are encrypted and write-only."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from alerts import payloads
from alerts.models import Channel, ChannelKind, Delivery
from tracker import crypto, outbound, signing
from tracker.errors import Conflict, FieldsInvalid
from tracker.models import ApiToken, Project
from tracker.outbound import url_hint
from tracker.services import audit_record

MAX_EMAIL_RECIPIENTS = 20


class ChannelError(FieldsInvalid):
    """A channel setting is invalid; `fields` maps each bad field to its messages."""

    summary = "the channel settings are not valid"


class ChannelDisabled(Conflict):
    """A disabled channel sends nothing, not even a test."""

    code = "channel_disabled"


def outbound_policy() -> outbound.OutboundPolicy:
    return outbound.OutboundPolicy.from_settings(settings)


def _check_url(url: str) -> None:
    try:
        outbound.check_url(url, policy=outbound_policy())
    except outbound.TransportError as exc:
        raise ChannelError({"url": [exc.message]}) from None


def _check_emails(addresses: list[str]) -> list[str]:
    cleaned = [a.strip() for a in addresses if a and a.strip()]
    if not cleaned or len(cleaned) > MAX_EMAIL_RECIPIENTS:
        raise ChannelError({"email_to": [f"give 1 to {MAX_EMAIL_RECIPIENTS} e-mail addresses"]})
    for address in cleaned:
        try:
            validate_email(address)
        except Exception:  # noqa: BLE001 - Django's ValidationError: report it as a field error
            raise ChannelError({"email_to": [f"{address!r} is not an e-mail address"]}) from None
    return cleaned


def _apply(channel: Channel, *, url: str | None, secret: str | None, email_to: list[str] | None) -> str | None:
    """Validate and store the kind-specific settings; return a generated webhook secret, if any."""
    generated = None
    if channel.kind in (ChannelKind.WEBHOOK, ChannelKind.SLACK):
        if url is not None:
            _check_url(url)
            channel.url_encrypted, channel.url_hint = crypto.encrypt(url), url_hint(url)
        elif not channel.url_encrypted:
            raise ChannelError({"url": ["this channel needs a URL"]})
    if channel.kind == ChannelKind.WEBHOOK and (secret is not None or not channel.secret_encrypted):
        if secret is None:
            secret = generated = signing.secret_generate()
        _check_secret(secret)
        channel.secret_encrypted = crypto.encrypt(secret)
    if channel.kind == ChannelKind.PAGERDUTY and (secret is not None or not channel.secret_encrypted):
        if not secret or len(secret) > 64 or not secret.isalnum():
            raise ChannelError({"secret": ["give the PagerDuty integration's routing key (32 letters and digits)"]})
        channel.secret_encrypted = crypto.encrypt(secret)
    if channel.kind == ChannelKind.EMAIL and (email_to is not None or not channel.email_to):
        channel.email_to = _check_emails(email_to or [])
    return generated


def _check_change_events(kind: str, change_events: bool) -> None:
    if change_events and kind != ChannelKind.PAGERDUTY:
        raise ChannelError({"change_events": ["only a PagerDuty channel sends change events"]})


def _check_secret(secret: str) -> None:
    try:
        signing.secret_check(secret)
    except ValueError as exc:
        raise ChannelError({"secret": [str(exc)]}) from None


@transaction.atomic
def channel_create(
    *,
    project: Project,
    name: str,
    kind: str,
    url: str | None = None,
    secret: str | None = None,
    email_to: list[str] | None = None,
    change_events: bool = False,
    user: AbstractBaseUser | None = None,
    token: ApiToken | None = None,
) -> tuple[Channel, str | None]:
    """Create a channel; returns it and, for a webhook without a given secret, the generated one (shown once)."""
    if kind not in ChannelKind.values:
        raise ChannelError({"kind": [f"one of {', '.join(ChannelKind.values)}"]})
    if Channel.objects.filter(project=project, name=name).exists():
        raise ChannelError({"name": ["a channel with this name exists"]})
    _check_change_events(kind, change_events)
    channel = Channel(project=project, name=name, kind=kind, change_events=change_events)
    generated = _apply(channel, url=url, secret=secret, email_to=email_to)
    channel.save()
    audit_record(
        project=project,
        action="channel.created",
        user=user,
        token=token,
        target=channel,
        details={"kind": kind, "name": name},
    )
    return channel, generated


@transaction.atomic
def channel_update(
    *,
    channel: Channel,
    name: str | None = None,
    url: str | None = None,
    secret: str | None = None,
    email_to: list[str] | None = None,
    change_events: bool | None = None,
    enabled: bool | None = None,
    user: AbstractBaseUser | None = None,
    token: ApiToken | None = None,
) -> Channel:
    if name is not None and name != channel.name:
        if Channel.objects.filter(project_id=channel.project_id, name=name).exclude(pk=channel.pk).exists():
            raise ChannelError({"name": ["a channel with this name exists"]})
        channel.name = name
    _apply(channel, url=url, secret=secret, email_to=email_to)
    if change_events is not None:
        _check_change_events(channel.kind, change_events)
        channel.change_events = change_events
    if enabled is not None and enabled != channel.enabled:
        channel.enabled = enabled
        # Re-enabling after a disable starts the failure count afresh.
        channel.disabled_reason, channel.disabled_at, channel.consecutive_failures = "", None, 0
    channel.save()
    changed = [
        k
        for k, v in {
            "name": name,
            "url": url,
            "secret": secret,
            "email_to": email_to,
            "change_events": change_events,
            "enabled": enabled,
        }.items()
        if v is not None
    ]
    audit_record(
        project=channel.project,
        action="channel.updated",
        user=user,
        token=token,
        target=channel,
        details={"changed": changed},
    )
    return channel


@transaction.atomic
def channel_delete(*, channel: Channel, user: AbstractBaseUser | None = None, token: ApiToken | None = None) -> None:
    audit_record(
        project=channel.project,
        action="channel.deleted",
        user=user,
        token=token,
        target=channel,
        details={"name": channel.name, "kind": channel.kind},
    )
    channel.delete()


@transaction.atomic
def channel_test(
    *,
    channel: Channel,
    user: AbstractBaseUser | None = None,
    token: ApiToken | None = None,
    now: datetime | None = None,
) -> Delivery:
    """Queue a test notification through the real outbox (same signing, guard and attempt log)."""
    from alerts.services.grouping import alerts_page_url, deliveries_create

    if not channel.enabled:
        raise ChannelDisabled("enable the channel before testing it")
    now = now or timezone.now()
    message = payloads.Message(
        project=channel.project.slug,
        service="deploy-tracker",
        environment="test",
        group_key=f"dt-test-{channel.pk}",
        reason="test",
        event_action="trigger",
        alerts_url=alerts_page_url(channel.project.slug),
        sent_at=now,
    )
    audit_record(project=channel.project, action="channel.tested", user=user, token=token, target=channel)
    [delivery] = deliveries_create(group=None, message=message, alert_ids=[], now=now, channels=[channel])
    return delivery


def channel_payload(channel: Channel, message: payloads.Message) -> dict[str, Any]:
    """The stored body for one channel. PagerDuty's routing key is added at send time, never stored here."""
    if channel.kind == ChannelKind.SLACK:
        return payloads.slack_body(message)
    if channel.kind == ChannelKind.PAGERDUTY:
        body = payloads.pagerduty_body(message, routing_key="", client_url=settings.SITE_URL)
        body.pop("routing_key")
        return body
    if channel.kind == ChannelKind.EMAIL:
        subject, text = payloads.email_message(message)
        # `thread`: every message of one alert group replies to the group's thread (Message-ID / References).
        return {"subject": subject, "text": text, "html": payloads.email_html(message), "thread": message.group_key}
    return payloads.webhook_body(message)
