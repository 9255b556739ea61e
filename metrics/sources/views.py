"""The metric sources page: connect a source, see each one's health and queries, ask for a test query."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from metrics.sources import selectors, services
from metrics.sources.forms import SourceForm
from metrics.sources.models import MetricSource
from tracker.decorators import project_member
from tracker.errors import DomainError
from tracker.models import Role


@project_member(Role.ADMIN)
def metric_sources(request: HttpRequest) -> HttpResponse:
    form = SourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.source_create(
                project=request.project, name=data["name"], url=data["url"], bearer_token=data["bearer_token"] or None,
                timeout_seconds=data["timeout_seconds"], tenant=data["tenant"], queries=data["queries"],
                user=request.user,
            )  # fmt: skip
        except DomainError as exc:
            for field, errors in exc.fields.items():
                form.add_error(field if field in form.fields else None, [f"{field}: {e}" for e in errors])
        else:
            messages.success(request, f"Metric source {data['name']} saved; run a test query before relying on it.")
            return redirect("metric_sources", request.project.slug)
    context = {
        "project": request.project,
        "nav": "settings",
        "form": form,
        "sources": [selectors.source_data(s) for s in selectors.source_list(project=request.project)],
    }
    return render(request, "metrics/sources/sources.html", context, status=400 if form.errors else 200)


@project_member(Role.ADMIN)
@require_POST
def metric_source_test(request: HttpRequest, source_id: int) -> HttpResponse:
    """Queue the test in the worker (queries never run in a web request); the page shows the answer when ready."""
    source = get_object_or_404(MetricSource, project=request.project, pk=source_id)
    services.source_test_request(source=source, user=request.user)
    messages.success(request, f"Test of {source.name} queued: the result appears below when the worker has run it.")
    return redirect(reverse("metric_sources", args=[request.project.slug]) + f"#source-{source.pk}")


@project_member(Role.ADMIN)
@require_POST
def metric_source_delete(request: HttpRequest, source_id: int) -> HttpResponse:
    source = get_object_or_404(MetricSource, project=request.project, pk=source_id)
    services.source_delete(source=source, user=request.user)
    messages.success(request, f"Metric source {source.name} deleted.")
    return redirect("metric_sources", request.project.slug)
