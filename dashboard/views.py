"""Pages that show several apps' data: the timeline, the deploy page, the comparison of two deploys, DORA."""

from __future__ import annotations

from datetime import timedelta
from itertools import groupby

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from alerts import selectors as alerts
from dashboard.forms import DoraFilterForm, TimelineFilterForm
from dashboard.selectors import DORA_DEFINITIONS, dora_report, timeline_rows
from deployments.changes import changes_between, deploy_facts
from deployments.models import Deploy, Status
from deployments.selectors import deploy_list, project_streams
from deployments.services import deploy_changes
from metrics.drift import charts as drift_charts
from metrics.drift import selectors as drift
from metrics.impact import charts as impact_charts
from metrics.impact import selectors as impact
from rollbacks import selectors as rollbacks
from tracker.decorators import project_member

TIMELINE_PAGE_SIZE = 50


def deploy_in_window(deploy: Deploy) -> bool:
    """Still being judged: the page refreshes itself while any deploy on it is."""
    return deploy.deployed_at > timezone.now() - timedelta(minutes=deploy.service.window_minutes)


@project_member()
def timeline(request: HttpRequest) -> HttpResponse:
    project = request.project
    services, environments = project_streams(project=project)
    filters = TimelineFilterForm(request.GET).filters()
    deploys = deploy_list(
        project=project,
        service=filters["service"] or None,
        environment=filters["environment"] or None,
        status=filters["status"] or None,
    )
    page = Paginator(deploys, TIMELINE_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = timeline_rows(list(page.object_list))
    days = [
        (day, list(day_rows))
        for day, day_rows in groupby(rows, key=lambda row: timezone.localdate(row.deploy.deployed_at))
    ]
    return render(
        request,
        "dashboard/timeline.html",
        {
            "project": project,
            "page": page,
            "live": any(deploy_in_window(row.deploy) for row in rows),
            "days": days,
            "services": services,
            "environments": environments,
            "filters": filters,
            "statuses": Status.values,
        },
    )


@project_member()
def deploy_detail(request: HttpRequest, deploy_id: int) -> HttpResponse:
    """The deploy with each app's section: every app's selector gives plain data, its charts.py the figures."""
    deploy = get_object_or_404(
        Deploy.objects.for_timeline().select_related("rolled_back_by"), project=request.project, pk=deploy_id
    )
    impact_section = impact.impact_section(deploy=deploy, now=timezone.now())
    drift_section = drift.drift_section(deploy=deploy)
    # The figures are built here, from the sections' plain data, and embedded with json_script.
    impact_figures = impact_charts.impact_figures(impact_section) if impact_section else []
    drift_figures = drift_charts.drift_charts(drift_section.rows) if drift_section and drift_section.rows else None
    return render(
        request,
        "dashboard/deploy_detail.html",
        {
            "project": request.project,
            "deploy": deploy,
            "changes": deploy.changes or deploy_changes(deploy=deploy),
            "events": list(deploy.events.all()),
            "rolled_back_deploys": list(deploy.rolled_back_deploys.select_related("service").all()),
            "impact": impact_section,
            "impact_charts": impact_figures,
            "drift": drift_section,
            "drift_charts": drift_figures,
            "alerts": alerts.deploy_alerts_section(deploy=deploy),
            "rollback": rollbacks.rollback_section(deploy=deploy),
            "can_request_rollback": request.membership.can_deploy,
        },
    )


@project_member()
def dora(request: HttpRequest) -> HttpResponse:
    days, production_only = DoraFilterForm(request.GET).window()
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
