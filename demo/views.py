"""The demo receiver: the demo's alert channel and rollback endpoint point here (demo project only).

It checks each delivery's Standard Webhooks signature as a real receiver must. Alerts are only
acknowledged; a `rollback.requested` is accepted and then acted on after the answer, as CI would:
the task reports progress on the request's callback and deploys the target version.
"""

from __future__ import annotations

import json

from django.http import Http404, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from demo import selectors
from demo.tasks import demo_ci_rollback
from tracker import signing
from tracker.enqueue import enqueue
from tracker.models import Project


def _demo_project(slug: str) -> Project:
    project = selectors.demo_project(slug=slug)
    if project is None:
        raise Http404("the demo receiver serves the demo project only")
    return project


def _refusal(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message}}, status=status)


@csrf_exempt
@require_POST
def alerts_receiver(request: HttpRequest, project_slug: str) -> JsonResponse:
    project = _demo_project(project_slug)
    try:
        secrets = selectors.alert_channel_secrets(project=project)
        message_id = signing.verify(secrets, request.headers, request.body)
    except signing.SignatureError as exc:
        return _refusal(exc.code, exc.message, 401)
    return JsonResponse({"received": message_id})


@csrf_exempt
@require_POST
def rollback_receiver(request: HttpRequest, project_slug: str) -> JsonResponse:
    project = _demo_project(project_slug)
    try:
        secrets = selectors.rollback_endpoint_secrets(project=project)
        rollback_id = signing.verify(secrets, request.headers, request.body)
    except signing.SignatureError as exc:
        return _refusal(exc.code, exc.message, 401)
    try:
        message = json.loads(request.body)
        valid = message["type"] == "rollback.requested" and message["rollback_id"] == rollback_id
        valid = valid and message["project"] == project.slug and bool(message["callback"]["token"])
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        return _refusal("bad_request", "expected the generic rollback.requested message of this project", 400)
    enqueue(demo_ci_rollback, message)
    return JsonResponse({"accepted": rollback_id}, status=202)
