"""Signal receivers for impact analysis (connected in ImpactConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from deployments.models import Deploy
from deployments.signals import deploy_processed
from metrics.impact.models import ImpactReport
from tracker.enqueue import enqueue


@receiver(deploy_processed, dispatch_uid="impact_on_deploy_processed")
def impact_on_deploy_processed(sender: type, deploy: Deploy, **kwargs: Any) -> None:
    """The baseline is (re)linked: open the deploy's report (pending) and judge it against that baseline."""
    from metrics.impact.tasks import impact_compute

    ImpactReport.objects.get_or_create(deploy=deploy)
    enqueue(impact_compute, deploy.pk)
