"""Receivers: impact analysis follows deploys (imported in ImpactConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from deployments.models import Deploy
from deployments.signals import deploy_processed
from metrics.impact.tasks import impact_compute
from tracker.enqueue import enqueue


@receiver(deploy_processed, dispatch_uid="impact.deploy_processed")
def impact_on_deploy_processed(sender: type, deploy: Deploy, **kwargs: Any) -> None:
    """The baseline is (re)linked: judge the deploy against it (the task opens its report)."""
    enqueue(impact_compute, deploy.pk)
