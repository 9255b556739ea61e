"""Receivers: impact analysis follows deploys (imported in ImpactConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from deployments.models import Deploy
from deployments.signals import deploy_processed
from metrics.impact.services import impact_request


@receiver(deploy_processed, dispatch_uid="impact.deploy_processed")
def impact_on_deploy_processed(sender: type, deploy: Deploy, **kwargs: Any) -> None:
    """The baseline is (re)linked: judge the deploy against it (this opens its report)."""
    impact_request(deploy_ids=[deploy.pk])
