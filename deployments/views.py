"""Deployment pages: a service's analysis settings (its own values and one override per environment)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from deployments.analysis_settings import FIELDS
from deployments.forms import ServiceSettingsForm
from deployments.models import Environment, Service, ServiceSettings
from deployments.selectors import service_settings_get
from deployments.settings_services import service_settings_update
from tracker.decorators import project_member
from tracker.forms import errors_text


def _stored(row: ServiceSettings | None) -> dict[str, Any]:
    return {name: getattr(row, name) if row is not None else None for name in FIELDS}


def _levels(service: Service, environments: list[Environment], posted: tuple[str, ServiceSettingsForm] | None):
    """One panel per level: the service's own settings, then each environment's override."""
    rows = {row.environment_id: row for row in service.settings_rows.all()}
    for environment in [None, *environments]:
        key = environment.name if environment else ""
        if posted is not None and posted[0] == key:
            form = posted[1]
        else:
            form = ServiceSettingsForm(initial=_stored(rows.get(environment.pk if environment else None)))
        effective = service.analysis_settings(environment.pk if environment else None)
        values = effective.as_dict()
        yield {
            "environment": environment,
            "key": key,
            "form": form,
            "rows": [(form[name], _shown(values[name]), name in effective.set_here) for name in FIELDS],
        }


def _shown(value: Any) -> str:
    """A resolved value as the page states it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value) or "none"
    return str(value)


@project_member()
def service_settings(request: HttpRequest, service_name: str) -> HttpResponse:
    """Everyone in the project reads the settings; admins change them (audited through the settings service)."""
    service, _, _ = service_settings_get(project=request.project, service_name=service_name)
    environments = list(Environment.objects.filter(project=request.project).order_by("name"))
    posted, status = None, 200
    if request.method == "POST":
        if not request.membership.is_admin:
            raise PermissionDenied("changing service settings needs the admin role")
        key = request.POST.get("environment", "")
        environment = next((e for e in environments if e.name == key), None)
        if key and environment is None:
            messages.error(request, f"No environment named {key[:50]}.")
            return redirect("service_settings", request.project.slug, service.name)
        form = ServiceSettingsForm(request.POST)
        if form.is_valid():
            row = ServiceSettings.objects.filter(service=service, environment=environment).first()
            changes = form.changes(_stored(row))
            service_settings_update(service=service, environment=environment, changes=changes, user=request.user)
            where = f"{environment.name} override" if environment else "service settings"
            messages.success(request, f"{service.name}: {where} saved." if changes else "Nothing changed.")
            anchor = f"#settings-{environment.name}" if environment else "#settings-service"
            return redirect(f"{request.path}{anchor}")
        messages.error(request, "Settings not saved: " + errors_text(form))
        posted, status = (key, form), 400
    context = {
        "project": request.project,
        "service": service,
        "levels": list(_levels(service, environments, posted)),
        "can_edit": request.membership.is_admin,
        "fields": FIELDS,
    }
    return render(request, "deployments/service_settings.html", context, status=status)
