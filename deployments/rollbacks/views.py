"""Rollback pages: the confirmation step behind the deploy page's rollback button."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from deployments.models import Deploy
from deployments.rollbacks.selectors import rollback_section
from deployments.rollbacks.services import rollback_request_create
from tracker.api_errors import ApiError
from tracker.decorators import project_member
from tracker.models import Role

REASON_MAX = 1000


@project_member(Role.DEPLOYER)
def rollback_confirm(request: HttpRequest, deploy_id: int) -> HttpResponse:
    """GET: what will happen, with the target to choose and a reason; POST: request it."""
    deploy = get_object_or_404(Deploy.objects.for_timeline(), project=request.project, pk=deploy_id)
    section = rollback_section(deploy=deploy)
    allowed = {str(o.deploy.pk): o.deploy for o in section.options if o.allowed}
    # A POST names its target explicitly; the GET form preselects the link's or the suggested one.
    if request.method == "POST":
        chosen = request.POST.get("target", "")
    else:
        chosen = request.GET.get("target") or (str(section.default.deploy.pk) if section.default else "")
    reason = request.POST.get("reason", "").strip()
    error, status = "", 200
    if request.method == "POST":
        if chosen not in allowed:
            error, status = "Choose one of the listed earlier deploys as the target.", 400
        elif len(reason) > REASON_MAX:
            error, status = f"The reason is at most {REASON_MAX} characters.", 400
        else:
            try:
                rollback = rollback_request_create(
                    deploy=deploy, target=allowed[chosen], reason=reason, user=request.user
                )
            except ApiError as exc:
                error, status = exc.message, exc.status_code
            else:
                messages.success(request, f"Rollback to {rollback.target.version} requested; CI is being asked now.")
                return redirect(deploy.get_absolute_url() + "#rollback")
    context = {
        "project": request.project,
        "deploy": deploy,
        "section": section,
        "chosen": chosen,
        "reason": reason,
        "error": error,
        "reason_max": REASON_MAX,
    }
    return render(request, "deployments/rollbacks/confirm.html", context, status=status)
