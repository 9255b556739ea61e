from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from deployments.models import (
    PRODUCTION_NAMES,
    Deploy,
    DeployEvent,
    Environment,
    Service,
    Status,
)
from tracker.enqueue import enqueue
from tracker.errors import Conflict
from tracker.labels import human_label
from tracker.models import ApiToken, Project

# How far a status may have come: a deploy never moves back (succeeded does not become in_progress).
_STATUS_RANK = {Status.PENDING: 0, Status.IN_PROGRESS: 1, Status.SUCCEEDED: 2, Status.FAILED: 2, Status.ROLLED_BACK: 3}


def service_get_or_create(*, project: Project, name: str) -> Service:
    service, _ = Service.objects.get_or_create(project=project, name=name)
    return service


def environment_get_or_create(*, project: Project, name: str, production: bool | None = None) -> Environment:
    """The named environment; a provider that says it is production (GitLab tier, GitHub flag) makes it so."""
    environment, _ = Environment.objects.get_or_create(
        project=project, name=name, defaults={"is_production": production or name.lower() in PRODUCTION_NAMES}
    )
    if production and not environment.is_production:
        environment.is_production = True
        environment.save(update_fields=["is_production"])
    return environment


@dataclass
class Recorded:
    """What a deploy event did: the deploy as stored, and what was applied or ignored (and why)."""

    deploy: Deploy | None
    created: bool = False
    applied: list[str] = field(default_factory=list)
    ignored: list[dict[str, str]] = field(default_factory=list)


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
    environment_url: str | None = None,
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
    recorded = _deploy_record_retried(project, service, environment, version, sent, _Origin(token, source))
    return recorded.deploy, recorded.created


@dataclass
class _Origin:
    """Who sent a deploy event, and how strictly it is held to the deploy's state."""

    token: ApiToken | None = None
    source: str = "api"
    # A provider's events (lenient) are never refused: what moves the deploy forward is applied, the rest
    # recorded and ignored. Our own API (strict) answers a conflict instead.
    lenient: bool = False
    production: bool | None = None
    note: str = ""


def provider_event_record(
    *, project: Project, source: str, event: dict[str, Any], production: bool | None = None, note: str = ""
) -> Recorded:
    """Record a native webhook's deploy event (the keywords of deploy_record) without ever refusing it."""
    sent = {name: value for name, value in event.items() if name in EVENT_FIELDS and value is not None}
    origin = _Origin(source=source, lenient=True, production=production, note=note)
    return _deploy_record_retried(project, event["service"], event["environment"], event["version"], sent, origin)


def _deploy_record_retried(
    project: Project, service: str, environment: str, version: str, sent: dict[str, Any], origin: _Origin
) -> Recorded:
    # A concurrent duplicate that loses the race on the unique external_id is retried once as an update.
    try:
        return _deploy_record(project, service, environment, version, dict(sent), origin)
    except IntegrityError:
        if not sent.get("external_id"):
            raise
        return _deploy_record(project, service, environment, version, dict(sent), origin)


@transaction.atomic
def _deploy_record(
    project: Project, service_name: str, environment_name: str, version: str, sent: dict[str, Any], origin: _Origin
) -> Recorded:
    service = service_get_or_create(project=project, name=service_name)
    environment = environment_get_or_create(project=project, name=environment_name, production=origin.production)
    values = {**sent, "version": version}
    recorded = Recorded(deploy=None)
    existing = _existing(project, values, service, environment, origin, recorded)
    if existing is not None:
        deploy = _deploy_update(existing, values, origin.lenient, recorded)
    else:
        deploy = Deploy(project=project, service=service, environment=environment, **values)
        deploy.deployed_at = _deployed_at(deploy)
        with transaction.atomic():
            deploy.save()
        recorded.created = True
        recorded.applied.append(f"deploy {deploy.pk} created ({deploy.status})")
    recorded.deploy = deploy
    DeployEvent.objects.create(
        deploy=deploy,
        kind="received",
        message=(
            f"{origin.source}: status {human_label(deploy.status).lower()}" + ("" if recorded.created else " (update)")
        )[:200]
        + (f" — {origin.note}"[:290] if origin.note else ""),
        details={
            "token": origin.token.prefix if origin.token else None,
            "status": deploy.status,
            "applied": recorded.applied,
            "ignored": recorded.ignored,
        },
    )
    deploy_link(deploy=deploy)
    if deploy.status == Status.SUCCEEDED:
        from deployments.tasks import deploy_process

        enqueue(deploy_process, deploy.pk)
    return recorded


def _existing(
    project: Project,
    values: dict[str, Any],
    service: Service,
    environment: Environment,
    origin: _Origin,
    recorded: Recorded,
) -> Deploy | None:
    """The deploy this event updates (same external_id), locked; a provider's event may move it.

    A provider's deploy may change environment (a GitHub status naming another environment): one not yet
    finished moves there; a finished one stays where it ran and the new environment gets its own deploy.
    """
    external_id = values.get("external_id")
    if not external_id:
        return None
    existing = Deploy.objects.select_for_update().filter(project=project, external_id=external_id).first()
    if existing is None or (existing.service_id, existing.environment_id) == (service.pk, environment.pk):
        return existing
    if not origin.lenient:
        _check_same_stream(existing, service, environment)
    if existing.status in (Status.PENDING, Status.IN_PROGRESS):
        recorded.applied.append(f"moved from {existing.service.name}/{existing.environment.name}")
        existing.service, existing.environment = service, environment
        return existing
    values["external_id"] = f"{external_id}@{environment.name}"[:200]
    recorded.applied.append(f"deploy {existing.pk} already {existing.status} in {existing.environment.name}")
    return Deploy.objects.select_for_update().filter(project=project, external_id=values["external_id"]).first()


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


def _deploy_update(deploy: Deploy, values: dict[str, Any], lenient: bool, recorded: Recorded) -> Deploy:
    new_status = values.get("status", deploy.status)
    if deploy.status == Status.ROLLED_BACK and new_status == Status.SUCCEEDED:
        # CI re-sending its "succeeded" for a deploy we have since marked rolled back: keep our status.
        values["status"] = new_status = Status.ROLLED_BACK
    if new_status != deploy.status:
        old_rank, new_rank = _STATUS_RANK[deploy.status], _STATUS_RANK[new_status]
        if new_rank < old_rank or (new_rank == old_rank == 2):
            if not lenient:
                raise Conflict(
                    f"a deploy cannot move from {deploy.status} to {new_status}",
                    code="invalid_transition",
                    fields={"status": [f"current status is {deploy.status}"]},
                )
            # A late or out-of-order status (GitHub and GitLab do not promise order) is older news than what
            # is stored: none of it is applied (not even a move), and the answer and the timeline say so.
            recorded.ignored.append(
                {
                    "what": f"status {new_status}",
                    "reason": f"the deploy is already {deploy.status}; it never moves back",
                }
            )
            recorded.applied.clear()
            deploy.refresh_from_db()
            return deploy
        else:
            recorded.applied.append(f"status {deploy.status} -> {new_status}")
    for key, value in values.items():
        setattr(deploy, key, value)
    deploy.deployed_at = _deployed_at(deploy)
    deploy.save()
    if not recorded.applied:
        recorded.applied.append(f"deploy {deploy.pk} updated")
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
