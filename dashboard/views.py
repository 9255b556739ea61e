"""Pages that show several apps' data: the timeline, the deploy page, the comparison of two deploys, DORA."""

from __future__ import annotations

from datetime import timedelta
from itertools import groupby
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import prefetch_related_objects
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from alerts import selectors as alerts
from dashboard.charts import dora_trend_figures, drift_share_figure, service_metric_figure, timeline_figure
from dashboard.forms import RANGE_CHOICES, DoraFilterForm, ServicePageForm, TimelineFilterForm
from dashboard.selectors import (
    CHART_LIMIT,
    DORA_DEFINITIONS,
    dora_report,
    timeline_page,
    timeline_points,
    timeline_rows,
)
from deployments.changes import changes_between, deploy_facts
from deployments.models import Deploy, Service, Status
from deployments.selectors import current_versions, deploy_checks_section, deploy_list, project_streams
from deployments.services import deploy_changes
from metrics.drift import charts as drift_charts
from metrics.drift import selectors as drift
from metrics.impact import charts as impact_charts
from metrics.impact import selectors as impact
from metrics.shadow import selectors as shadow
from rollbacks import selectors as rollbacks
from tracker.decorators import project_member

TIMELINE_PAGE_SIZE = 50
# The service page draws per-minute means over at most two days; longer ranges are drawn hour by hour.
SERVICE_MINUTE_SPAN = timedelta(days=2)


def deploy_in_window(deploy: Deploy) -> bool:
    """Still being judged: the page refreshes itself while any deploy on it is."""
    return deploy.in_window


@project_member()
def timeline(request: HttpRequest) -> HttpResponse:
    """The deploys that match the filters (GET, so a view is a link): drawn on a time axis, then as a table."""
    project, now = request.project, timezone.now()
    services, environments = project_streams(project=project)
    form = TimelineFilterForm(request.GET)
    filters, window = form.filters(), form.window(now)
    deploys = deploy_list(
        project=project,
        service=filters["service"] or None,
        environment=filters["environment"] or None,
        status=filters["status"] or None,
        since=window[0],
        until=window[1],
        search=filters["q"] or None,
    )
    points = timeline_points(deploys)
    # One reverse() for up to 2,000 markers: their addresses differ only by the deploy's id.
    deploy_path = reverse("deploy_detail", args=[project.slug, 0]).removesuffix("0/")
    chart = timeline_figure(points, deploy_path, window, now)
    # The count reads the filtered deploys alone; the page's rows come with their CI check counts and their
    # impact and drift badges joined in, for the page's deploys only.
    page = Paginator(deploys, TIMELINE_PAGE_SIZE).get_page(request.GET.get("page"))
    page.object_list = timeline_page(deploys, (page.number - 1) * TIMELINE_PAGE_SIZE, TIMELINE_PAGE_SIZE)
    rows = timeline_rows(page.object_list)
    # Each stream's observation window, for every deploy on the page in one query.
    prefetch_related_objects([row.deploy for row in rows], "service__settings_rows")
    days = [
        (day, list(day_rows))
        for day, day_rows in groupby(rows, key=lambda row: timezone.localdate(row.deploy.deployed_at))
    ]
    return render(
        request,
        "dashboard/timeline.html",
        {
            "project": project,
            "nav": "timeline",
            "page": page,
            "live": any(deploy_in_window(row.deploy) for row in rows),
            "days": days,
            "services": services,
            "environments": environments,
            "filters": filters,
            "filtered": any(filters.values()),
            "query": urlencode({k: v for k, v in filters.items() if v}),
            "ranges": RANGE_CHOICES,
            "statuses": Status.values,
            "chart": chart,
            "chart_count": len(points),
            "chart_limit": CHART_LIMIT,
        },
    )


@project_member()
def deploy_detail(request: HttpRequest, deploy_id: int) -> HttpResponse:
    """The deploy with each app's section: every app's selector gives plain data, its charts.py the figures."""
    deploy = get_object_or_404(
        Deploy.objects.for_timeline().select_related("rolled_back_by").prefetch_related("service__settings_rows"),
        project=request.project,
        pk=deploy_id,
    )
    impact_section = impact.impact_section(deploy=deploy, now=timezone.now())
    drift_section = drift.drift_section(deploy=deploy)
    # The figures are built here, from the sections' plain data, and embedded with json_script.
    impact_figures = impact_charts.impact_figures(impact_section) if impact_section else []
    drift_figures = drift_charts.drift_charts(drift_section.rows) if drift_section and drift_section.rows else None
    rollback_card, promotion_card = rollbacks.release_sections(deploy=deploy)
    return render(
        request,
        "dashboard/deploy_detail.html",
        {
            "project": request.project,
            "nav": "timeline",
            "deploy": deploy,
            "changes": deploy.changes or deploy_changes(deploy=deploy),
            "events": list(deploy.events.all()),
            "rolled_back_deploys": list(deploy.rolled_back_deploys.select_related("service").all()),
            "impact": impact_section,
            "impact_charts": impact_figures,
            "drift": drift_section,
            "drift_charts": drift_figures,
            "shadow": shadow.shadow_section(deploy=deploy),
            "alerts": alerts.deploy_alerts_section(deploy=deploy),
            "checks": deploy_checks_section(deploy=deploy),
            "rollback": rollback_card,
            "promotion": promotion_card,
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
            "trend_charts": dora_trend_figures(report["trend"]),
            "definitions": DORA_DEFINITIONS,
            "days": days,
            "production_only": production_only,
            "day_choices": [7, 30, 90, 180],
        },
    )


# The compare page's picker lists the project's most recent deploys, of every service and environment.
PICKER_DEPLOYS = 200


def _picker(project) -> list[Deploy]:
    return list(
        Deploy.objects.filter(project=project)
        .select_related("service", "environment")
        .only("pk", "version", "deployed_at", "service__name", "environment__name")
        .order_by("-deployed_at", "-id")[:PICKER_DEPLOYS]
    )


@project_member()
def compare_pick(request: HttpRequest) -> HttpResponse:
    """Choose any two deploys; the choice lands on the comparison's own address."""
    a, b = request.GET.get("a", ""), request.GET.get("b", "")
    if a.isdigit() and b.isdigit():
        return redirect("compare", request.project.slug, int(a), int(b))
    return render(
        request,
        "dashboard/compare.html",
        {"project": request.project, "nav": "compare", "picker": _picker(request.project), "a": None, "b": None},
    )


@project_member()
def compare(request: HttpRequest, a_id: int, b_id: int) -> HttpResponse:
    """Any two deploys side by side (champion vs challenger for canary, shadow and A/B): what differs, both
    verdicts, each metric's judged windows on one chart."""
    deploys = {d.pk: d for d in Deploy.objects.for_timeline().filter(project=request.project, pk__in=[a_id, b_id])}
    if a_id not in deploys or b_id not in deploys:
        raise Http404("No such deploy")
    a, b = deploys[a_id], deploys[b_id]
    sides, units = impact.compare_sides(deploys=[a, b], until=timezone.now())
    drift_badges = drift.drift_badges(deploy_ids=[a.pk, b.pk])
    # Champion and challenger (either way round): the paired comparison on the requests both scored.
    challenger = b if b.baseline_id == a.pk else a if a.baseline_id == b.pk else None
    return render(
        request,
        "dashboard/compare.html",
        {
            "project": request.project,
            "nav": "compare",
            "a": a,
            "b": b,
            "picker": _picker(request.project),
            "sides": [
                {"deploy": d, "impact": side, "drift": drift_badges.get(d.pk)}
                for d, side in zip((a, b), sides, strict=True)
            ],
            "changes": changes_between(deploy_facts(a), deploy_facts(b)),
            "compare_charts": impact_charts.compare_figures(sides, units),
            "challenger": challenger,
            "shadow": shadow.shadow_section(deploy=challenger) if challenger else None,
            "concurrent": impact.concurrent_comparison(challenger=challenger) if challenger else None,
        },
    )


@project_member()
def service_page(request: HttpRequest, service_name: str) -> HttpResponse:
    """One metric of a service over time with every deploy marked by its verdict, drift per deploy, what runs."""
    service = get_object_or_404(Service, project=request.project, name=service_name)
    now = timezone.now()
    form = ServicePageForm(request.GET)
    since, until = form.window(now)
    names = impact.service_metric_names(service=service)
    metric = form.chosen_metric(names)
    points = timeline_points(deploy_list(project=request.project, service=service.name, since=since, until=until))
    trend = {}
    if metric:
        hourly = (until or now) - (since or min((p.deployed_at for p in points), default=now)) > SERVICE_MINUTE_SPAN
        trend = impact.metric_trend(service=service, name=metric, since=since, until=until, hourly=hourly)
    shares = drift.drift_shares(deploy_ids=[p.id for p in points])
    return render(
        request,
        "dashboard/service.html",
        {
            "project": request.project,
            "nav": "timeline",
            "service": service,
            "metric": metric,
            "metrics": names,
            "filters": {**form.filters(), "range": form.filters()["range"] or "7d"},
            "ranges": RANGE_CHOICES[1:],
            "deploys": points,
            "metric_chart": service_metric_figure(metric, trend, points) if metric else None,
            "drift_chart": drift_share_figure(points, shares) if shares else None,
            "current": current_versions(service=service),
        },
    )
