"""Pages that show several apps' data: the timeline, the deploy page, the comparison of two deploys, DORA."""

from __future__ import annotations

from datetime import timedelta
from itertools import groupby

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from alerts.selectors import attach_open_alert_counts
from dashboard.selectors import DORA_DEFINITIONS, dora_report
from deployments.changes import changes_between, deploy_facts
from deployments.models import Deploy, Status
from deployments.selectors import deploy_list, project_streams
from deployments.services import deploy_changes
from rollbacks.selectors import attach_rollback_requests
from tracker.decorators import project_member

TIMELINE_PAGE_SIZE = 50


def deploy_in_window(deploy: Deploy) -> bool:
    """Still being judged: the page refreshes itself while any deploy on it is."""
    return deploy.deployed_at > timezone.now() - timedelta(minutes=deploy.service.window_minutes)


@project_member()
def timeline(request: HttpRequest) -> HttpResponse:
    project = request.project
    services, environments = project_streams(project=project)
    service = request.GET.get("service") or None
    environment = request.GET.get("environment") or None
    status = request.GET.get("status") if request.GET.get("status") in Status.values else None
    deploys = deploy_list(project=project, service=service, environment=environment, status=status)
    # Drift and impact badges ride along in the same query (the reports' large JSON columns left out).
    deploys = deploys.select_related("drift_report", "impact_report").defer(
        "drift_report__result", "impact_report__metrics", "impact_report__reasons", "impact_report__windows"
    )
    page = Paginator(deploys, TIMELINE_PAGE_SIZE).get_page(request.GET.get("page"))
    attach_open_alert_counts(page.object_list)
    attach_rollback_requests(page.object_list)
    days = [
        (day, list(rows)) for day, rows in groupby(page.object_list, key=lambda d: timezone.localdate(d.deployed_at))
    ]
    return render(
        request,
        "dashboard/timeline.html",
        {
            "project": project,
            "page": page,
            "live": any(deploy_in_window(d) for d in page.object_list),
            "days": days,
            "services": services,
            "environments": environments,
            "filters": {"service": service or "", "environment": environment or "", "status": status or ""},
            "statuses": Status.values,
        },
    )


@project_member()
def deploy_detail(request: HttpRequest, deploy_id: int) -> HttpResponse:
    deploy = get_object_or_404(Deploy.objects.for_timeline(), project=request.project, pk=deploy_id)
    changes = deploy.changes or deploy_changes(deploy=deploy)
    return render(
        request,
        "dashboard/deploy_detail.html",
        {
            "project": request.project,
            "deploy": deploy,
            "changes": changes,
            "events": list(deploy.events.all()),
            "rolled_back_deploys": list(deploy.rolled_back_deploys.select_related("service").all()),
        },
    )


@project_member()
def dora(request: HttpRequest) -> HttpResponse:
    try:
        days = min(max(int(request.GET.get("days", 30)), 1), 365)
    except ValueError:
        days = 30
    production_only = request.GET.get("all") != "1"
    report = dora_report(project=request.project, days=days, production_only=production_only)
    return render(
        request,
        "dashboard/dora.html",
        {
            "project": request.project,
            "nav": "dora",
            "report": report,
            "definitions": DORA_DEFINITIONS,
            "days": days,
            "production_only": production_only,
            "day_choices": [7, 30, 90, 180],
        },
    )


@project_member()
def compare(request: HttpRequest, a_id: int, b_id: int) -> HttpResponse:
    """Any two deploys side by side (champion vs challenger for canary, shadow and A/B)."""
    deploys = {d.pk: d for d in Deploy.objects.for_timeline().filter(project=request.project, pk__in=[a_id, b_id])}
    if a_id not in deploys or b_id not in deploys:
        raise Http404("No such deploy")
    a, b = deploys[a_id], deploys[b_id]
    return render(
        request,
        "dashboard/compare.html",
        {
            "project": request.project,
            "a": a,
            "b": b,
            "pair": [a, b],
            "changes": changes_between(deploy_facts(a), deploy_facts(b)),
        },
    )
