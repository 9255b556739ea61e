"""Writes around native webhooks: the project's webhook mappings, MLflow model lineage and alias removals."""

from __future__ import annotations

import re

from django.db import transaction

from deployments.models import Deploy, DeployEvent, HookSettings, ModelVersionRecord
from deployments.services import Recorded
from tracker.models import ApiToken, Project
from tracker.services import audit_record


def hook_settings_get(*, project: Project) -> HookSettings:
    return HookSettings.objects.get_or_create(project=project)[0]


@transaction.atomic
def hook_settings_update(
    *,
    project: Project,
    service_names: dict[str, str] | None = None,
    mlflow_environments: dict[str, str] | None = None,
    token: ApiToken | None = None,
) -> HookSettings:
    """Replace the project's webhook mappings (each given one whole); audited."""
    settings = hook_settings_get(project=project)
    if service_names is not None:
        settings.service_names = service_names
    if mlflow_environments is not None:
        settings.mlflow_environments = mlflow_environments
    settings.save()
    audit_record(
        project=project,
        action="webhook_settings.saved",
        token=token,
        target=settings,
        details={"service_names": settings.service_names, "mlflow_environments": settings.mlflow_environments},
    )
    return settings


@transaction.atomic
def model_version_record(*, project: Project, name: str, version: str, run_id: str, source: str) -> Recorded:
    """An MLflow model version's lineage (run and source), given to its deploys that lack it."""
    ModelVersionRecord.objects.update_or_create(
        project=project, name=name, version=version, defaults={"run_id": run_id, "source": source}
    )
    # An alias set before this event arrived (deliveries are not ordered) made a deploy without lineage.
    updated = Deploy.objects.filter(project=project, model_name=name, model_version=version, model_run_id="").update(
        model_run_id=run_id
    )
    return Recorded(
        deploy=None,
        applied=[f"model {name} version {version}: run {run_id or 'none'} recorded"]
        + ([f"lineage added to {updated} deploy(s)"] if updated else []),
    )


def model_lineage(*, project: Project, name: str, version: str) -> dict[str, str]:
    """What the registry said of a model version: {"run_id", "uri"} (its source), or {} when it did not."""
    record = ModelVersionRecord.objects.filter(project=project, name=name, version=version).first()
    if record is None:
        return {}
    return {key: value for key, value in (("model_run_id", record.run_id), ("model_uri", record.source)) if value}


def alias_removal_record(*, project: Project, external_id_prefix: str, alias: str, name: str) -> Recorded:
    """An MLflow alias removed: said on the timeline of the newest deploy it had made."""
    deploy = (
        # The prefix ends in "-v"; MLflow versions are numbers, so an alias "champion-v2" is not "champion".
        Deploy.objects.filter(project=project, external_id__regex=rf"^{re.escape(external_id_prefix)}[0-9]+$")
        .order_by("-deployed_at", "-id")
        .first()
    )
    if deploy is None:
        return Recorded(deploy=None, ignored=[{"what": f"alias {alias}", "reason": f"no deploy of {name} under it"}])
    DeployEvent.objects.create(
        deploy=deploy,
        kind="alias_removed",
        message=f"MLflow alias {alias} removed from {name} (version {deploy.model_version})",
        details={"alias": alias, "model": name},
    )
    return Recorded(deploy=deploy, applied=[f"alias {alias} removal recorded on deploy {deploy.pk}"])
