"""Drift pages: a service's sample columns (kinds learned on first sight) and its drift settings."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from deployments.models import Service
from metrics.drift import selectors, services
from metrics.drift.forms import DriftSettingsForm
from tracker.decorators import project_member
from tracker.forms import errors_text
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
    if request.method != "POST":
        return redirect("service_columns", request.project.slug, service.name)
    columns = selectors.service_columns(project=request.project, service_name=service.name)
    form = DriftSettingsForm(request.POST, columns=columns)
    if not form.is_valid():
        messages.error(request, "Drift settings not saved: " + errors_text(form))
        return redirect("service_columns", request.project.slug, service.name)
    try:
        services.drift_settings_update(
            service=service,
            drift_share=form.cleaned_data["drift_share"],
            categorical_method=form.cleaned_data["categorical_method"],
            overrides=form.overrides(),
            user=request.user,
        )
        messages.success(request, "Drift settings saved.")
    except services.SettingsInvalid as exc:
        messages.error(request, f"Drift settings not saved: {exc}.")
    return redirect("service_columns", request.project.slug, service.name)
