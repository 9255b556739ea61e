"""Release pages: the confirmation step behind the deploy page's rollback button, the promote button's POST,
and the endpoint settings."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from deployments.models import Deploy
from rollbacks.forms import REASON_MAX, PromotionForm, RollbackConfirmForm, RollbackEndpointForm
from rollbacks.models import RollbackEndpoint
from rollbacks.selectors import release_sections, rollback_section
from rollbacks.services import promotion_request_create, rollback_endpoint_set, rollback_request_create
from tracker import signing
from tracker.api_errors import domain_status
from tracker.decorators import project_member
from tracker.errors import DomainError
from tracker.models import Role


@project_member()
def release_cards(request: HttpRequest, deploy_id: int) -> HttpResponse:
    """The deploy page's rollback and promotion cards alone: what the page's live refresh fetches every few seconds
    while a request is open, instead of the whole page with its charts."""
    deploy = get_object_or_404(
        Deploy.objects.select_related("service", "environment"), project=request.project, pk=deploy_id
    )
    rollback_card, promotion_card = release_sections(deploy=deploy)
    context = {
        "project": request.project,
        "deploy": deploy,
        "rollback": rollback_card,
        "promotion": promotion_card,
        "can_request_rollback": request.membership.can_deploy,
    }
    return render(request, "rollbacks/_cards.html", context)


@project_member(Role.DEPLOYER)
def rollback_confirm(request: HttpRequest, deploy_id: int) -> HttpResponse:
    """GET: what will happen, with the target to choose and a reason; POST: request it."""
    deploy = get_object_or_404(Deploy.objects.for_timeline(), project=request.project, pk=deploy_id)
    section = rollback_section(deploy=deploy)
    targets = [o.deploy for o in section.options if o.allowed]
    # A POST names its target explicitly; the GET form preselects the link's or the suggested one.
    suggested = request.GET.get("target") or (str(section.default.deploy.pk) if section.default else "")
    form = RollbackConfirmForm(request.POST if request.method == "POST" else None, targets=targets)
    error, status = "", 200
    if form.is_bound:
        if form.is_valid():
            target = form.targets[form.cleaned_data["target"]]
            try:
                rollback = rollback_request_create(
                    deploy=deploy, target=target, reason=form.cleaned_data["reason"], user=request.user
                )
            except DomainError as exc:
                error, status = exc.message, domain_status(exc)
            else:
                # Tagged for the rollback card, which shows it beside the request's live state (where the button was).
                messages.success(
                    request,
                    f"Rollback to {rollback.target.version} requested; CI is being asked now.",
                    extra_tags="rollback",
                )
                return redirect(deploy.get_absolute_url() + "#rollback")
        else:
            error, status = form.first_error(), 400
    context = {
        "project": request.project,
        "deploy": deploy,
        "section": section,
        "chosen": form["target"].value() if form.is_bound else suggested,
        "reason": form["reason"].value() or "",
        "error": error,
        "reason_max": REASON_MAX,
    }
    return render(request, "rollbacks/confirm.html", context, status=status)


@project_member(Role.DEPLOYER)
@require_POST
def promotion_request(request: HttpRequest, deploy_id: int) -> HttpResponse:
    """The deploy page's Promote button (confirmed in the browser through data-confirm): request it."""
    deploy = get_object_or_404(Deploy.objects.for_timeline(), project=request.project, pk=deploy_id)
    form = PromotionForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.errors["reason"][0])
    else:
        try:
            promotion_request_create(deploy=deploy, reason=form.cleaned_data["reason"], user=request.user)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Promotion of {deploy.version} requested; CI is being asked now.")
    return redirect(deploy.get_absolute_url() + "#promotion")


@project_member(Role.ADMIN)
def rollback_endpoint_settings(request: HttpRequest) -> HttpResponse:
    """Admins set where rollback requests go; a generated signing secret is shown once."""
    endpoint = RollbackEndpoint.objects.filter(project=request.project).first()
    initial = (
        {"url": endpoint.url, "format": endpoint.format, "ref": endpoint.ref, "event_type": endpoint.event_type}
        if endpoint
        else {}
    )
    form = RollbackEndpointForm(request.POST or None, initial=initial)
    new_secret, status = None, 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            rotated = signing.secret_generate() if data["new_secret"] else None
            try:
                endpoint, generated = rollback_endpoint_set(
                    project=request.project,
                    url=data["url"],
                    format=data["format"],
                    secret=rotated,
                    token=data["token"] or None,
                    ref=data["ref"],
                    event_type=data["event_type"],
                    user=request.user,
                )
            except DomainError as exc:
                for field, errors in exc.fields.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                new_secret = generated or rotated
                messages.success(request, "Rollback endpoint saved.")
        status = 400 if form.errors else 200
    context = {
        "project": request.project,
        "nav": "settings",
        "form": form,
        "endpoint": endpoint,
        "new_secret": new_secret,
    }
    return render(request, "rollbacks/endpoint_settings.html", context, status=status)
