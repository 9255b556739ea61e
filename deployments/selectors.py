from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db.models import Count, OuterRef, Q, Subquery
from django.shortcuts import get_object_or_404
from prometheus_client.core import GaugeMetricFamily, Metric

from deployments.analysis_settings import AnalysisSettings
from deployments.models import Deploy, DeployCheck, DeployQuerySet, Environment, Service, Status
from tracker.models import Project
from tracker.prometheus import gauge_family


def deploy_list(
    *,
    project: Project,
    service: str | None = None,
    environment: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    version: str | None = None,
    external_id: str | None = None,
    search: str | None = None,
) -> DeployQuerySet:
    """The project's deploys, newest first; `search` matches the version, commit SHA (prefix), author or model
    version."""
    # The project joined too: each deploy's URL names it (no query per row in a list).
    deploys = Deploy.objects.for_timeline().select_related("project").filter(project=project)
    if version:
        deploys = deploys.filter(version=version)
    if external_id:
        deploys = deploys.filter(external_id=external_id)
    if service:
        deploys = deploys.filter(service__name=service)
    if environment:
        deploys = deploys.filter(environment__name=environment)
    if status:
        deploys = deploys.filter(status=status)
    if since:
        deploys = deploys.filter(deployed_at__gte=since)
    if until:
        deploys = deploys.filter(deployed_at__lt=until)
    if search:
        deploys = deploys.filter(
            Q(version__icontains=search)
            | Q(commit_sha__istartswith=search)
            | Q(author__icontains=search)
            | Q(model_version__icontains=search)
        )
    return deploys


def deploy_newest(*, project: Project, **filters: str | None) -> Deploy | None:
    """The newest deploy matching deploy_list's filters (what CI that has no deploy id asks the gate about)."""
    return deploy_list(project=project, **filters).first()


def deploy_get(*, deploy_id: int) -> Deploy:
    """One deploy with what its answer shows (service, environment, baseline) in one query."""
    return Deploy.objects.for_timeline().get(pk=deploy_id)


def current_versions(*, service: Service) -> list[dict]:
    """Per environment of the project, the service's live deploy (id, version, deployed_at), one query."""
    live = Deploy.objects.live().filter(service=service, environment=OuterRef("pk")).order_by("-deployed_at", "-id")
    environments = Environment.objects.filter(project_id=service.project_id).annotate(
        deploy_id=Subquery(live.values("id")[:1]),
        version=Subquery(live.values("version")[:1]),
        deployed_at=Subquery(live.values("deployed_at")[:1]),
    )
    return list(environments.filter(deploy_id__isnull=False).values("name", "deploy_id", "version", "deployed_at"))


def project_streams(*, project: Project) -> tuple[list[Service], list[Environment]]:
    return list(project.services.all()), list(project.environments.all())


def deploy_gauges() -> list[Metric]:
    """The deploys' families of the Prometheus exposition (registered in DeploymentsConfig.ready)."""
    counted = {(row["status"],): row["n"] for row in Deploy.objects.values("status").annotate(n=Count("id"))}
    pending = Deploy.objects.filter(status=Status.SUCCEEDED, processed_at=None).count()
    unprocessed = GaugeMetricFamily(
        "deploy_tracker_deploys_unprocessed", "Succeeded deploys whose task has not run yet.", value=pending
    )
    by_status = gauge_family("deploy_tracker_deploys", "Deploys stored, by status.", {"status": Status.values}, counted)
    return [by_status, unprocessed]


def service_settings_get(
    *, project: Project, service_name: str, environment_name: str | None = None
) -> tuple[Service, Environment | None, AnalysisSettings]:
    """A service of the project (404 otherwise), the asked environment (404 if named and unknown), and the
    analysis settings that apply there, resolved (two or three queries)."""
    service = get_object_or_404(Service.objects.prefetch_related("settings_rows"), project=project, name=service_name)
    environment = None
    if environment_name is not None:
        environment = get_object_or_404(Environment, project=project, name=environment_name)
    return service, environment, service.analysis_settings(environment.pk if environment else None)


def deploy_checks(*, deploy: Deploy) -> list[DeployCheck]:
    """The deploy's CI checks, failed first, then warnings, then passed; by name within each (one query)."""
    order = {"failed": 0, "warning": 1, "passed": 2}
    return sorted(DeployCheck.objects.filter(deploy=deploy), key=lambda c: (order.get(c.status, 3), c.name))


def required_checks_state(*, required: Sequence[str], checks: Iterable[DeployCheck]) -> dict[str, str]:
    """Each required check's latest status, or `missing` when CI has not posted it."""
    statuses = {c.name: c.status for c in checks}
    return {name: statuses.get(name, "missing") for name in required}


def deploy_checks_section(*, deploy: Deploy) -> dict[str, Any]:
    """The deploy page's CI checks: the checks (failed first), the service's required names, those missing."""
    checks = deploy_checks(deploy=deploy)
    required = deploy.service.analysis_settings(deploy.environment_id).required_checks
    state = required_checks_state(required=required, checks=checks)
    return {"checks": checks, "required": list(required), "missing": [n for n, s in state.items() if s == "missing"]}
