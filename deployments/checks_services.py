"""Writes of CI checks attached to a deploy: one result per check name, a re-post replaces it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction

from deployments.models import Deploy, DeployCheck, DeployEvent

CHECK_FIELDS = ("kind", "status", "metrics", "segments", "url", "summary")


@transaction.atomic
def deploy_checks_record(*, deploy: Deploy, checks: Sequence[dict[str, Any]]) -> list[DeployCheck]:
    """Store each check's latest result (by name) and note it in the deploy's event log; all or nothing."""
    stored = []
    for check in checks:
        defaults = {field: check.get(field, DeployCheck._meta.get_field(field).get_default()) for field in CHECK_FIELDS}
        row, _ = DeployCheck.objects.update_or_create(deploy=deploy, name=check["name"], defaults=defaults)
        stored.append(row)
    failed = sorted(c.name for c in stored if c.status == "failed")
    message = f"{len(stored)} CI check{'s' if len(stored) != 1 else ''} recorded"
    if failed:
        message += ": failed " + ", ".join(failed)
    DeployEvent.objects.create(
        deploy=deploy,
        kind="checks.recorded",
        message=message[:500],
        details={"checks": {c.name: c.status for c in stored}},
    )
    return stored
