"""Reads of the demo receiver: which project it serves, and the secrets its senders sign with."""

from __future__ import annotations

from alerts.models import Channel, ChannelKind
from rollbacks.models import RollbackEndpoint
from tracker import crypto
from tracker.models import Project

DEMO_SLUG = "demo"


def demo_project(*, slug: str) -> Project | None:
    """The demo project, and only it: the receiver serves no other project."""
    if slug != DEMO_SLUG:
        return None
    return Project.objects.filter(slug=slug).first()


def alert_channel_secrets(*, project: Project) -> list[str]:
    rows = Channel.objects.filter(project=project, kind=ChannelKind.WEBHOOK).exclude(secret_encrypted="")
    return [crypto.decrypt(value) for value in rows.values_list("secret_encrypted", flat=True)]


def rollback_endpoint_secrets(*, project: Project) -> list[str]:
    endpoint = RollbackEndpoint.objects.filter(project=project).first()
    return [crypto.decrypt(endpoint.secret_encrypted)] if endpoint and endpoint.secret_encrypted else []
