from __future__ import annotations

import hmac
import ipaddress
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseNotFound, JsonResponse
from django.shortcuts import redirect, render

from tracker.models import Membership
from tracker.prometheus import prometheus_exposition

logger = logging.getLogger(__name__)


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = list(Membership.objects.select_related("project").filter(user=request.user).order_by("project__slug"))
    if len(memberships) == 1:
        return redirect("timeline", memberships[0].project.slug)
    return render(request, "tracker/home.html", {"memberships": memberships})


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """States only (ok, error, not used): what failed and why goes to the log, not to whoever asks."""
    checks = {"database": _database_ok(), "broker": _broker_ok()}
    ready = all(value in ("ok", "not used") for value in checks.values())
    return JsonResponse({"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503)


def metrics(request: HttpRequest) -> HttpResponse:
    if refusal := _scrape_refusal(request):
        return refusal
    return HttpResponse(prometheus_exposition(), content_type="text/plain; version=0.0.4")


def _scrape_refusal(request: HttpRequest) -> HttpResponse | None:
    """The exposition counts every project's deploys: off (404) until METRICS_TOKEN or METRICS_ALLOWED_NETWORKS
    says who may scrape; outside the networks a 403, without the bearer token a 401."""
    token, networks = settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS
    if not token and not networks:
        return HttpResponseNotFound()
    if networks and not _address_in(request.META.get("REMOTE_ADDR", ""), networks):
        return HttpResponseForbidden()
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if token and not (scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())):
        refusal = HttpResponse(status=401)
        refusal["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return refusal
    return None


def _address_in(address: str, networks: list[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network, strict=False) for network in networks)


def _database_ok() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure (logged, not shown)
        logger.warning("readiness: the database is unreachable: %r", exc)
        return "error"


def _broker_ok() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "not used"
    from tracker.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=2)
        return "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports any failure (logged, not shown)
        logger.warning("readiness: the broker is unreachable: %r", exc)
        return "error"
