"""Receivers: rollback requests complete on deploys (imported in RollbacksConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from deployments.models import Deploy
from deployments.signals import deploy_processed, deploys_rolled_back
from rollbacks.services import rollback_complete_by_deploy
from rollbacks.tasks import rollback_complete_check
from tracker.enqueue import enqueue


@receiver(deploys_rolled_back, dispatch_uid="rollbacks.rollback_detected")
def complete_on_rollback_detected(sender: Any, rollback: Deploy, **kwargs: Any) -> None:
    # Atomic with the recording of the deploy: the rollback it detected and the request it completes agree.
    rollback_complete_by_deploy(deploy=rollback)


@receiver(deploy_processed, dispatch_uid="rollbacks.deploy_processed")
def complete_on_deploy_processed(sender: Any, deploy: Deploy, **kwargs: Any) -> None:
    """A deploy of the target's commit under a new version is not a detected rollback; check it too."""
    enqueue(rollback_complete_check, deploy.pk)
