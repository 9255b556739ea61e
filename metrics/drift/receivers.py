"""Receivers: drift follows deploys (imported in DriftConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from deployments.models import Deploy
from deployments.signals import deploy_processed
from metrics.drift.tasks import drift_rebaseline
from tracker.enqueue import enqueue


@receiver(deploy_processed, dispatch_uid="drift.deploy_processed")
def drift_on_deploy_processed(sender: type, deploy: Deploy, **kwargs: Any) -> None:
    """The baseline is (re)linked: a deploy that already has samples is judged again against it."""
    enqueue(drift_rebaseline, deploy.pk)
