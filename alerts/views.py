"""Alert pages: the on-call list (ack, resolve, silence) and the settings page (channels, rules)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from alerts import selectors, services
from alerts.models import Alert, AlertRule, Channel, ChannelKind, Severity, Silence
from tracker.decorators import project_member
from tracker.models import Role

SILENCE_HOURS = (1, 4, 12, 24, 72, 168)


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
    matchers = [line.strip() for line in request.POST.get("matchers", "").splitlines() if line.strip()]
    try:
        hours = int(request.POST.get("hours", "4"))
    except ValueError:
        hours = 0
    if hours not in SILENCE_HOURS:
        messages.error(request, "Choose a duration from the list.")
        return redirect("alert_list", request.project.slug)
    try:
        services.silence_create(
            project=request.project,
            matchers=matchers,
            ends_at=timezone.now() + timedelta(hours=hours),
            comment=request.POST.get("comment", ""),
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


def _settings_page(request: HttpRequest, **extra: object) -> HttpResponse:
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
            **extra,
        },
    )


@project_member()
def alert_settings(request: HttpRequest) -> HttpResponse:
    return _settings_page(request)


@project_member(Role.ADMIN)
@require_POST
def channel_create(request: HttpRequest) -> HttpResponse:
    post = request.POST
    emails = [e.strip() for e in post.get("email_to", "").replace("\n", ",").split(",") if e.strip()]
    try:
        channel, generated = services.channel_create(
            project=request.project,
            name=post.get("name", "").strip()[:100] or "channel",
            kind=post.get("kind", ""),
            url=post.get("url", "").strip() or None,
            secret=post.get("secret", "").strip() or None,
            email_to=emails or None,
            user=request.user,
        )
    except services.ChannelError as exc:
        return _settings_page(request, form_errors=exc.fields, form=post)
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
    if channel.enabled:
        services.channel_test(channel=channel, user=request.user)
        messages.success(request, f"Test notification queued for {channel.name}; its attempts appear below.")
    else:
        messages.error(request, "Enable the channel before testing it.")
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
    values: dict[str, object] = {"enabled": request.POST.get("enabled") == "on"}
    if request.POST.get("severity") in Severity.values:
        values["severity"] = request.POST["severity"]
    if "column" in request.POST:
        values["column"] = request.POST["column"].strip()[:200]
    for scope in ("services", "environments"):
        if scope in request.POST:
            values[scope] = [name.strip()[:100] for name in request.POST[scope].split(",") if name.strip()][:100]
    raw = request.POST.get("threshold", "").strip()
    if raw:
        try:
            threshold = float(raw)
        except ValueError:
            threshold = -1.0
        if not 0 <= threshold <= 1:
            messages.error(request, "The threshold is a share between 0 and 1.")
            return redirect("alert_settings", request.project.slug)
        values["threshold"] = threshold
    try:
        services.alert_rule_save(project=request.project, rule=rule, user=request.user, **values)
        messages.success(request, f"Rule {rule.key} saved.")
    except services.RuleError as exc:
        messages.error(request, str(exc))
    return redirect("alert_settings", request.project.slug)
