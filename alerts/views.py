"""Alert pages: the on-call list (ack, resolve, silence) and the settings page (channels, rules)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from alerts import selectors, services
from alerts.forms import SILENCE_HOURS, ChannelForm, RuleForm, SilenceForm
from alerts.models import Alert, AlertRule, Channel, ChannelKind, Severity, Silence
from tracker.decorators import project_member
from tracker.forms import errors_text
from tracker.models import Role


@project_member()
def alert_list(request: HttpRequest) -> HttpResponse:
    context = selectors.alerts_page(project=request.project, now=timezone.now())
    return render(
        request,
        "alerts/alert_list.html",
        {
            **context,
            "project": request.project,
            "nav": "alerts",
            "silence_hours": SILENCE_HOURS,
            "can_act": request.membership.can_deploy,
        },
    )


@project_member()
def alert_detail(request: HttpRequest, alert_id: int) -> HttpResponse:
    """One alert: its evidence, deliveries and their attempts, matching silences, its state changes."""
    detail = selectors.alert_detail(project=request.project, alert_id=alert_id, now=timezone.now())
    if detail is None:
        raise Http404("No such alert")
    return render(
        request,
        "alerts/alert_detail.html",
        {
            "project": request.project,
            "nav": "alerts",
            "detail": detail,
            "alert": detail.alert,
            "can_act": request.membership.can_deploy,
        },
    )


def _not_post(request: HttpRequest) -> HttpResponse | None:
    """405 for anything but POST, checked after the lookup so another project's id is a 404 first."""
    return None if request.method == "POST" else HttpResponseNotAllowed(["POST"])


def _alert(request: HttpRequest, alert_id: int) -> Alert:
    return get_object_or_404(Alert, project=request.project, pk=alert_id)


@project_member(Role.DEPLOYER)
def alert_ack(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = _alert(request, alert_id)
    if refusal := _not_post(request):
        return refusal
    try:
        services.alert_acknowledge(alert=alert, user=request.user)
        messages.success(request, "Alert acknowledged.")
    except services.AlertStateError as exc:
        messages.error(request, str(exc))
    return redirect("alert_list", request.project.slug)


@project_member(Role.DEPLOYER)
def alert_resolve(request: HttpRequest, alert_id: int) -> HttpResponse:
    alert = _alert(request, alert_id)
    if refusal := _not_post(request):
        return refusal
    try:
        services.alert_resolve(alert=alert, user=request.user)
        messages.success(request, "Alert resolved.")
    except services.AlertStateError as exc:
        messages.error(request, str(exc))
    return redirect("alert_list", request.project.slug)


@project_member(Role.DEPLOYER)
@require_POST
def silence_create(request: HttpRequest) -> HttpResponse:
    form = SilenceForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Not silenced: " + errors_text(form))
        return redirect("alert_list", request.project.slug)
    matchers, hours = form.cleaned_data["matchers"], form.cleaned_data["hours"]
    try:
        services.silence_create(
            project=request.project,
            matchers=matchers,
            ends_at=timezone.now() + timedelta(hours=hours),
            comment=form.cleaned_data["comment"],
            user=request.user,
        )
        messages.success(request, f"Silenced for {hours} h: {', '.join(matchers)}.")
    except services.SilenceError as exc:
        messages.error(request, str(exc))
    return redirect("alert_list", request.project.slug)


@project_member(Role.DEPLOYER)
def silence_expire(request: HttpRequest, silence_id: int) -> HttpResponse:
    silence = get_object_or_404(Silence, project=request.project, pk=silence_id)
    if refusal := _not_post(request):
        return refusal
    services.silence_expire(silence=silence, user=request.user)
    messages.success(request, "Silence ended.")
    return redirect("alert_list", request.project.slug)


def _settings_page(request: HttpRequest, channel_form: ChannelForm | None = None, **extra: object) -> HttpResponse:
    return render(
        request,
        "alerts/settings.html",
        {
            "project": request.project,
            "nav": "alert_settings",
            "channels": selectors.channel_list(project=request.project),
            "rules": selectors.rule_list(project=request.project),
            "kinds": ChannelKind.choices,
            "severities": Severity.values,
            "can_admin": request.membership.is_admin,
            "channel_form": channel_form or ChannelForm(),
            **extra,
        },
        status=400 if channel_form is not None and channel_form.errors else 200,
    )


@project_member()
def alert_settings(request: HttpRequest) -> HttpResponse:
    return _settings_page(request)


@project_member(Role.ADMIN)
@require_POST
def channel_create(request: HttpRequest) -> HttpResponse:
    form = ChannelForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, channel_form=form)
    data = form.cleaned_data
    try:
        channel, generated = services.channel_create(
            project=request.project,
            name=data["name"],
            kind=data["kind"],
            url=data["url"] or None,
            secret=data["secret"] or None,
            email_to=data["email_to"] or None,
            change_events=data["change_events"],
            user=request.user,
        )
    except services.ChannelError as exc:
        for field, errors in exc.fields.items():
            form.add_error(field if field in form.fields else None, errors)
        return _settings_page(request, channel_form=form)
    messages.success(request, f"Channel {channel.name} added.")
    # Rendered, not redirected: the generated signing secret is shown this once and stored nowhere readable.
    return _settings_page(request, new_secret=generated, new_secret_channel=channel)


def _channel(request: HttpRequest, channel_id: int) -> Channel:
    return get_object_or_404(Channel, project=request.project, pk=channel_id)


@project_member(Role.ADMIN)
def channel_test(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    if refusal := _not_post(request):
        return refusal
    try:
        services.channel_test(channel=channel, user=request.user)
    except services.ChannelDisabled:
        messages.error(request, "Enable the channel before testing it.")
    else:
        messages.success(request, f"Test notification queued for {channel.name}; its attempts appear below.")
    return redirect("alert_settings", request.project.slug)


@project_member(Role.ADMIN)
def channel_toggle(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    if refusal := _not_post(request):
        return refusal
    services.channel_update(channel=channel, enabled=not channel.enabled, user=request.user)
    return redirect("alert_settings", request.project.slug)


@project_member(Role.ADMIN)
def channel_delete(request: HttpRequest, channel_id: int) -> HttpResponse:
    channel = _channel(request, channel_id)
    if refusal := _not_post(request):
        return refusal
    services.channel_delete(channel=channel, user=request.user)
    messages.success(request, "Channel deleted.")
    return redirect("alert_settings", request.project.slug)


@project_member(Role.ADMIN)
def rule_update(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule, project=request.project, pk=rule_id)
    if refusal := _not_post(request):
        return refusal
    form = RuleForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Rule {rule.key} not saved: " + errors_text(form))
        return redirect("alert_settings", request.project.slug)
    try:
        services.alert_rule_save(project=request.project, rule=rule, user=request.user, **form.changes())
        messages.success(request, f"Rule {rule.key} saved.")
    except services.RuleError as exc:
        messages.error(request, str(exc))
    return redirect("alert_settings", request.project.slug)
