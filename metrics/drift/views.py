"""Drift pages: a service's sample columns (kinds learned on first sight) and its drift settings."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from deployments.models import Service
from metrics.drift import selectors, services
from tracker.decorators import project_member
from tracker.models import Role


@project_member()
def service_columns(request: HttpRequest, service_name: str) -> HttpResponse:
    service = get_object_or_404(Service, project=request.project, name=service_name)
    columns = selectors.service_columns(project=request.project, service_name=service.name)
    return render(
        request,
        "metrics/drift/columns.html",
        {
            "project": request.project,
            "service": service,
            "columns": columns,
            "setting": selectors.drift_setting_get(service=service),
            "methods": services.OVERRIDE_METHODS,
            "can_edit": request.membership.is_admin,
        },
    )


@project_member(Role.ADMIN)
def service_drift_settings(request: HttpRequest, service_name: str) -> HttpResponse:
    service = get_object_or_404(Service, project=request.project, name=service_name)
    if request.method == "POST":
        try:
            services.drift_settings_update(service=service, form=request.POST, user=request.user)
            messages.success(request, "Drift settings saved.")
        except services.SettingsInvalid as exc:
            messages.error(request, str(exc))
    return redirect("service_columns", request.project.slug, service.name)
