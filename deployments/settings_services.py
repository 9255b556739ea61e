"""Writes of a service's analysis settings (its own, or one environment's override): audited."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from deployments.analysis_settings import FIELDS, AnalysisSettings
from deployments.models import Environment, Service, ServiceSettings
from deployments.signals import service_settings_changed
from tracker.models import ApiToken
from tracker.services import audit_record


def service_settings_update(
    *,
    service: Service,
    environment: Environment | None = None,
    changes: dict[str, Any],
    user: AbstractBaseUser | None = None,
    token: ApiToken | None = None,
) -> AnalysisSettings:
    """Set the given fields at this level (the service's own, or the environment's override); a None value makes
    the field inherit again. Answers the settings that now apply at this level."""
    unknown = set(changes) - set(FIELDS)
    assert not unknown, f"not analysis settings: {sorted(unknown)}"
    if changes:
        try:
            _store(service, environment, changes)
        except IntegrityError:  # a concurrent first write made the row: write over it
            _store(service, environment, changes)
        audit_record(
            project=service.project,
            action="service_settings.saved",
            user=user,
            token=token,
            target=service,
            details={"service": service.name, "environment": environment.name if environment else None, **changes},
        )
        # The open reports of the stream are judged again under the new settings (not at their next data).
        service_settings_changed.send(
            sender=ServiceSettings, service=service, environment=environment, changed=sorted(changes)
        )
    return (
        Service.objects.prefetch_related("settings_rows")
        .get(pk=service.pk)
        .analysis_settings(environment.pk if environment else None)
    )


@transaction.atomic
def _store(service: Service, environment: Environment | None, changes: dict[str, Any]) -> None:
    row, _ = ServiceSettings.objects.select_for_update().get_or_create(
        service=service, environment=environment, defaults={"project_id": service.project_id}
    )
    for name, value in changes.items():
        setattr(row, name, value)
    row.save()
