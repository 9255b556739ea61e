from __future__ import annotations

import inspect
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments.models import PRODUCTION_NAMES, Deploy, DeployEvent, Environment, Service, Status
from tracker.enqueue import enqueue
from tracker.errors import Conflict
from tracker.models import ApiToken, Project

# How far a status may have come: a deploy never moves back (succeeded does not become in_progress).
_STATUS_RANK = {Status.PENDING: 0, Status.IN_PROGRESS: 1, Status.SUCCEEDED: 2, Status.FAILED: 2, Status.ROLLED_BACK: 3}


def service_get_or_create(*, project: Project, name: str) -> Service:
    service, _ = Service.objects.get_or_create(project=project, name=name)
    return service


def environment_get_or_create(*, project: Project, name: str) -> Environment:
    environment, _ = Environment.objects.get_or_create(
        project=project, name=name, defaults={"is_production": name.lower() in PRODUCTION_NAMES}
    )
    return environment


def deploy_record(
    *,
    project: Project,
    service: str,
    environment: str,
    version: str,
    status: str | None = None,
    external_id: str | None = None,
    commit_sha: str | None = None,
    ref: str | None = None,
    author: str | None = None,
    ci_url: str | None = None,
    commit_timestamp: datetime | None = None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    model_name: str | None = None,
    model_version: str | None = None,
    model_uri: str | None = None,
    model_run_id: str | None = None,
    model_digest: str | None = None,
    data_version: str | None = None,
    params: dict[str, Any] | None = None,
    strategy: str | None = None,
    traffic_percent: float | None = None,
    changelog: str | None = None,
    expected_drift: list[str] | None = None,
    token: ApiToken | None = None,
    source: str = "api",
) -> tuple[Deploy, bool]:
    """Store a deploy event: create the deploy, or update the one with the same external_id.

    A value left None was not sent: a new deploy takes the column's default, an update keeps what is
    stored. Returns (deploy, created). A concurrent duplicate that loses the race on the unique
    external_id is retried once as an update, so two identical posts make one deploy.
    """
    # The event's own fields, read from the arguments before any other local name exists.
    sent = {name: value for name, value in locals().items() if name in EVENT_FIELDS and value is not None}
    try:
        return _deploy_record(project, service, environment, version, sent, token, source)
    except IntegrityError:
        if not external_id:
            raise
        return _deploy_record(project, service, environment, version, sent, token, source)


@transaction.atomic
def _deploy_record(
    project: Project,
    service_name: str,
    environment_name: str,
    version: str,
    sent: dict[str, Any],
    token: ApiToken | None,
    source: str,
) -> tuple[Deploy, bool]:
    service = service_get_or_create(project=project, name=service_name)
    environment = environment_get_or_create(project=project, name=environment_name)
    values = {**sent, "version": version}
    external_id = values.get("external_id")
    existing = None
    if external_id:
        existing = Deploy.objects.select_for_update().filter(project=project, external_id=external_id).first()
    if existing is not None:
        _check_same_stream(existing, service, environment)
        deploy, created = _deploy_update(existing, values), False
    else:
        deploy = Deploy(project=project, service=service, environment=environment, **values)
        deploy.deployed_at = _deployed_at(deploy)
        with transaction.atomic():
            deploy.save()
        created = True
    DeployEvent.objects.create(
        deploy=deploy,
        kind="received",
        message=f"{source}: status {deploy.status}" + ("" if created else " (update)"),
        details={"token": token.prefix if token else None, "status": deploy.status},
    )
    deploy_link(deploy=deploy)
    if deploy.status == Status.SUCCEEDED:
        from deployments.tasks import deploy_process

        enqueue(deploy_process, deploy.pk)
    return deploy, created


# What a deploy event may say besides its stream and version: deploy_record's other keywords, each a Deploy column.
_NOT_EVENT_FIELDS = {"project", "service", "environment", "version", "token", "source"}
EVENT_FIELDS = frozenset(inspect.signature(deploy_record).parameters) - _NOT_EVENT_FIELDS


def _check_same_stream(deploy: Deploy, service: Service, environment: Environment) -> None:
    if deploy.service_id != service.pk or deploy.environment_id != environment.pk:
        raise Conflict(
            "this external_id belongs to a deploy of another service or environment",
            code="external_id_conflict",
            fields={"external_id": [f"already used by deploy {deploy.pk}"]},
        )


def _deploy_update(deploy: Deploy, values: dict[str, Any]) -> Deploy:
    new_status = values.get("status", deploy.status)
    if deploy.status == Status.ROLLED_BACK and new_status == Status.SUCCEEDED:
        # CI re-sending its "succeeded" for a deploy we have since marked rolled back: keep our status.
        values["status"] = new_status = Status.ROLLED_BACK
    if new_status != deploy.status:
        old_rank, new_rank = _STATUS_RANK[deploy.status], _STATUS_RANK[new_status]
        if new_rank < old_rank or (new_rank == old_rank == 2):
            raise Conflict(
                f"a deploy cannot move from {deploy.status} to {new_status}",
                code="invalid_transition",
                fields={"status": [f"current status is {deploy.status}"]},
            )
    for key, value in values.items():
        setattr(deploy, key, value)
    deploy.deployed_at = _deployed_at(deploy)
    deploy.save()
    return deploy


def _deployed_at(deploy: Deploy) -> datetime:
    return deploy.finished_at or deploy.started_at or deploy.deployed_at or timezone.now()


def baseline_for(deploy: Deploy) -> Deploy | None:
    """The previous succeeded deploy of the same service and environment that was not rolled back."""
    return Deploy.objects.succeeded_before(deploy).first()


def deploy_link(*, deploy: Deploy) -> None:
    """Detect a rollback (marking the deploys it undid), then set the baseline."""
    if deploy.status == Status.SUCCEEDED:
        _rollback_detect(deploy)
    baseline = baseline_for(deploy)
    if deploy.baseline_id != (baseline.pk if baseline else None):
        deploy.baseline = baseline
        Deploy.objects.filter(pk=deploy.pk).update(baseline=baseline)


def _rollback_detect(deploy: Deploy) -> None:
    """A succeeded deploy of a version (or of the same commit and model) that an earlier deploy had.

    The commit alone is not enough: ML deploys often ship a retrained model on unchanged code.
    """
    earlier = Deploy.objects.filter(
        service_id=deploy.service_id,
        environment_id=deploy.environment_id,
        status__in=[Status.SUCCEEDED, Status.ROLLED_BACK],
        deployed_at__lt=deploy.deployed_at,
    ).exclude(pk=deploy.pk)
    same = earlier.filter(version=deploy.version)
    if deploy.commit_sha:
        same = same | earlier.filter(commit_sha=deploy.commit_sha, model_version=deploy.model_version)
    restored = same.order_by("-deployed_at", "-id").first()
    if restored is None:
        return
    undone = earlier.filter(status=Status.SUCCEEDED, deployed_at__gt=restored.deployed_at)
    undone_ids = list(undone.values_list("pk", flat=True))
    if not undone_ids:
        return
    Deploy.objects.filter(pk__in=undone_ids).update(status=Status.ROLLED_BACK, rolled_back_by=deploy)
    Deploy.objects.filter(pk=deploy.pk).update(is_rollback=True)
    deploy.is_rollback = True
    DeployEvent.objects.bulk_create(
        [
            DeployEvent(
                deploy_id=pk, kind="rolled_back", message=f"rolled back by {deploy.version}", details={"by": deploy.pk}
            )
            for pk in undone_ids
        ]
        + [
            DeployEvent(
                deploy=deploy,
                kind="rollback",
                message=f"restores {restored.version}",
                details={"restored": restored.pk, "undone": undone_ids},
            )
        ]
    )
    from deployments.signals import deploys_rolled_back

    deploys_rolled_back.send(sender=Deploy, rollback=deploy, restored=restored, undone_ids=undone_ids)


def deploy_changes(*, deploy: Deploy) -> dict[str, Any]:
    """What changed against the baseline (stored on the deploy by the task)."""
    from deployments.changes import changes_between, deploy_facts

    baseline = deploy.baseline
    return changes_between(deploy_facts(baseline) if baseline else None, deploy_facts(deploy))


def deploy_processed_mark(*, deploy_id: int) -> Deploy:
    """The task's work: re-link (events may have arrived out of order), store changes, notify listeners."""
    from deployments.signals import deploy_processed

    with transaction.atomic():
        deploy = Deploy.objects.select_for_update().get(pk=deploy_id)
        deploy_link(deploy=deploy)
        deploy.refresh_from_db(fields=["baseline"])
        deploy.changes = deploy_changes(deploy=deploy)
        deploy.processed_at = timezone.now()
        deploy.save(update_fields=["changes", "processed_at"])
        DeployEvent.objects.create(
            deploy=deploy,
            kind="processed",
            message="baseline linked, changes stored",
            details={"baseline": deploy.baseline_id},
        )
    deploy_processed.send(sender=Deploy, deploy=deploy)
    return deploy
