from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from tracker.models import Membership
from tracker.prometheus import prometheus_exposition


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = list(Membership.objects.select_related("project").filter(user=request.user).order_by("project__slug"))
    if len(memberships) == 1:
        return redirect("timeline", memberships[0].project.slug)
    return render(request, "tracker/home.html", {"memberships": memberships})


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    ready = all(value in ("ok", "not used") for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(prometheus_exposition(), content_type="text/plain; version=0.0.4")


def _database_ok() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure
        return f"error: {exc.__class__.__name__}"


def _broker_ok() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "not used"
    from tracker.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=2)
        return "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure
        return f"error: {exc.__class__.__name__}"
