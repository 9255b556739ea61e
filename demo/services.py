"""Writes of the demo: its user, pointing its channel and rollback endpoint at the receiver it serves, and
what the demo's CI does when that receiver accepts a rollback request."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.urls import reverse

from alerts.models import Channel, ChannelKind
from alerts.services import channel_create, channel_update
from deployments.services import deploy_record
from rollbacks.models import RollbackEndpoint, RollbackRequest
from rollbacks.services import callback_token_hash, rollback_callback_apply, rollback_endpoint_set
from tracker import crypto
from tracker.errors import DomainError
from tracker.models import Project

DEMO_USERNAME = DEMO_PASSWORD = "demo"
CHANNEL_NAME = "demo receiver (webhook)"
CI_SOURCE = "demo CI"


def demo_user_ensure() -> AbstractBaseUser:
    """The demo login, a superuser of the demo installation so that /admin/ opens with it too."""
    user, created = get_user_model().objects.get_or_create(
        username=DEMO_USERNAME, defaults={"email": "demo@example.com"}
    )
    if created:
        user.set_password(DEMO_PASSWORD)
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def demo_receiver_url(*, project: Project, kind: str) -> str:
    return settings.SITE_URL + reverse(f"demo_receiver_{kind}", args=[project.slug])


def demo_receiver_connect(*, project: Project, user: AbstractBaseUser | None = None) -> str | None:
    """Point the demo's alert channel and rollback endpoint at this installation's receiver (SITE_URL).

    Through the same services (and SSRF guard) as an admin's change. Returns why it could not, if so.
    """
    alerts_url = demo_receiver_url(project=project, kind="alerts")
    rollback_url = demo_receiver_url(project=project, kind="rollback")
    try:
        with transaction.atomic():
            channel = Channel.objects.filter(project=project, name=CHANNEL_NAME).first()
            if channel is None:
                channel_create(project=project, name=CHANNEL_NAME, kind=ChannelKind.WEBHOOK, url=alerts_url, user=user)
            elif crypto.decrypt(channel.url_encrypted) != alerts_url:
                channel_update(channel=channel, url=alerts_url, user=user)
            endpoint = RollbackEndpoint.objects.filter(project=project).first()
            if endpoint is None or endpoint.url != rollback_url:
                rollback_endpoint_set(project=project, url=rollback_url, format="generic", user=user)
    except DomainError as exc:
        return (
            f"the demo receiver {alerts_url} is refused by the outbound rules ({exc}); set OUTBOUND_ALLOW_HTTP=1 "
            "and OUTBOUND_ALLOWED_NETWORKS=127.0.0.0/8 (make run does) and run seed_demo again"
        )
    return None


def ci_model_fields(model: dict[str, str]) -> dict[str, str]:
    """CI's events name the model's fields inside `model`; deploy_record takes them as model_name, model_version…"""
    return {f"model_{key}": value for key, value in model.items()}


def demo_ci_rollback(*, message: dict[str, Any]) -> RollbackRequest | None:
    """The demo's CI acting on a `rollback.requested` its receiver accepted: it reports `accepted` and
    `running` on the request's callback (with the request's one-time token), then deploys the target
    version, which completes the request. Idempotent: a redelivered message changes nothing more."""
    rollback = (
        RollbackRequest.objects.select_related("project")
        .filter(pk=message["rollback_id"], callback_token_hash=callback_token_hash(message["callback"]["token"]))
        .first()
    )
    if rollback is None:
        return None
    for status, note in (("accepted", "queued by the demo CI"), ("running", "the demo CI is deploying the target")):
        try:
            rollback_callback_apply(rollback=rollback, status=status, message=note)
        except DomainError:  # expired, or already finished: nothing left to do
            return rollback
    target = message["target"]
    model = {key: value for key, value in (target.get("model") or {}).items() if value}
    deploy_record(
        project=rollback.project,
        service=message["service"],
        environment=message["environment"],
        version=target["version"],
        external_id=f"demo-ci-rollback-{rollback.pk}",
        status="succeeded",
        commit_sha=target.get("commit_sha") or "",
        ref=target.get("ref") or "",
        author=CI_SOURCE,
        strategy="rolling",
        traffic_percent=100,
        changelog=f"Rollback to {target['version']}: {message.get('reason') or 'requested in Deploy Tracker'}",
        source=CI_SOURCE,
        **ci_model_fields(model),
    )
    rollback.refresh_from_db()
    return rollback
