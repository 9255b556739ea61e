"""Deploy signals that complete rollback requests (connected in RollbacksConfig.ready)."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from deployments.models import Deploy
from deployments.signals import deploy_processed, deploys_rolled_back
from rollbacks.services import rollback_complete_by_deploy


@receiver(deploys_rolled_back, dispatch_uid="rollbacks_complete_on_rollback_detected")
def complete_on_rollback_detected(sender: Any, rollback: Deploy, **kwargs: Any) -> None:
    # Inside the recording transaction: the request completes together with the deploy row.
    rollback_complete_by_deploy(deploy=rollback)


@receiver(deploy_processed, dispatch_uid="rollbacks_complete_on_deploy_processed")
def complete_on_deploy_processed(sender: Any, deploy: Deploy, **kwargs: Any) -> None:
    # A deploy of the target's commit under a new version is not a detected rollback; check it too.
    rollback_complete_by_deploy(deploy=deploy)
