from __future__ import annotations

from datetime import datetime

from deployments.models import Deploy, DeployQuerySet, Environment, Service
from tracker.models import Project


def deploy_list(
    *,
    project: Project,
    service: str | None = None,
    environment: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> DeployQuerySet:
    deploys = Deploy.objects.for_timeline().filter(project=project)
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
    return deploys


def project_streams(*, project: Project) -> tuple[list[Service], list[Environment]]:
    return list(project.services.all()), list(project.environments.all())
