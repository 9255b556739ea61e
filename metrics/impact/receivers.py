"""Receivers: impact analysis follows deploys (imported in ImpactConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from deployments.models import Deploy, Environment, Service
from deployments.signals import deploy_processed, service_settings_changed
from metrics.impact.models import ImpactReport
from metrics.impact.services import impact_request


@receiver(deploy_processed, dispatch_uid="impact.deploy_processed")
def impact_on_deploy_processed(sender: type, deploy: Deploy, **kwargs: Any) -> None:
    """The baseline is (re)linked: judge the deploy against it (this opens its report)."""
    impact_request(deploy_ids=[deploy.pk])


@receiver(service_settings_changed, dispatch_uid="impact.service_settings_changed")
def impact_on_settings_changed(sender: type, service: Service, environment: Environment | None, **kwargs: Any) -> None:
    """A changed window, warm-up, mode or segment labels: the stream's open reports are due again."""
    open_reports = ImpactReport.objects.filter(final=False, deploy__service=service)
    if environment is not None:
        open_reports = open_reports.filter(deploy__environment=environment)
    impact_request(deploy_ids=list(open_reports.values_list("deploy_id", flat=True)))
