"""Signal receivers for drift (connected in DriftConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import receiver

from deployments.models import Deploy
from deployments.signals import deploy_processed
from metrics.drift.models import ColumnSketch
from metrics.drift.services import drift_mark_due


@receiver(deploy_processed, dispatch_uid="drift_on_deploy_processed")
def drift_on_deploy_processed(sender: type, deploy: Deploy, **kwargs: Any) -> None:
    """The baseline is (re)linked: a deploy that already has samples is judged again against it."""
    if ColumnSketch.objects.filter(deploy=deploy).exists():
        with transaction.atomic():
            drift_mark_due(deploy_id=deploy.pk)
