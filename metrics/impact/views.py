"""Pages for live metrics: a service's metric settings (directions, thresholds, critical flags)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from deployments.models import Service
from metrics.impact import selectors
from metrics.impact.services import metric_setting_save
from metrics.points import MAX_NAME_LENGTH, NAME_PATTERN
from metrics.stats.impact import DIRECTIONS
from tracker.decorators import project_member
from tracker.models import Role


class MetricSettingForm(forms.Form):
    name = forms.RegexField(regex=NAME_PATTERN, max_length=MAX_NAME_LENGTH)
    direction = forms.ChoiceField(choices=[(d, d.replace("_", " ")) for d in DIRECTIONS])
    allowed_change = forms.FloatField(min_value=0.0, max_value=100.0, help_text="0.1 = a 10 % change of the mean")
    critical = forms.BooleanField(required=False)
    min_samples = forms.IntegerField(min_value=3, max_value=1_000_000)
    window_minutes = forms.IntegerField(min_value=1, max_value=10_080, required=False)
    warmup_minutes = forms.IntegerField(min_value=0, max_value=1440)
    seasonal_baseline = forms.BooleanField(required=False)
    unit = forms.CharField(max_length=20, required=False, help_text="shown on the chart's axis, e.g. ms or %")


@project_member()
def metric_settings(request: HttpRequest, service_name: str) -> HttpResponse:
    """Every metric the service posted, with its direction and thresholds (defaults from the name)."""
    service = get_object_or_404(Service, project=request.project, name=service_name)
    rows = selectors.metric_settings_effective(service=service)
    can_edit = request.membership.is_admin
    return render(
        request,
        "metrics/impact/settings.html",
        {"project": request.project, "service": service, "rows": rows, "can_edit": can_edit, "directions": DIRECTIONS},
    )


@project_member(Role.ADMIN)
def metric_setting_update(request: HttpRequest, service_name: str) -> HttpResponse:
    service = get_object_or_404(Service, project=request.project, name=service_name)
    if request.method != "POST":
        return redirect("metric_settings", request.project.slug, service.name)
    form = MetricSettingForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not saved: " + "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        return redirect("metric_settings", request.project.slug, service.name)
    data = dict(form.cleaned_data)
    name = data.pop("name")
    metric_setting_save(project=request.project, service=service, name=name, user=request.user, **data)
    messages.success(request, f"Saved the settings of {name}.")
    return redirect("metric_settings", request.project.slug, service.name)
