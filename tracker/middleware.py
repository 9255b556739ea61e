"""Enforces request-size limits early on every request, and keeps every 4xx under /api/ in the error shape."""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from tracker.api_errors import error_body

INGEST_PREFIXES = ("/api/v1/metrics", "/api/v1/predictions")

_DEFAULT_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def body_limit(path: str) -> int:
    return settings.INGEST_MAX_BODY_BYTES if path.startswith(INGEST_PREFIXES) else settings.MAX_BODY_BYTES


class ApiErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        is_api = request.path.startswith("/api/")
        # Pages and the admin too: Django's own cap must admit the ingest limit, so it guards nothing here.
        if refusal := _size_refusal(request, is_api):
            return refusal
        response = self.get_response(request)
        if is_api and 400 <= response.status_code < 500 and not _is_error_shape(response):
            code = _DEFAULT_CODES.get(response.status_code, "client_error")
            message = response.reason_phrase or code
            shaped = JsonResponse(error_body(code, message), status=response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if response.has_header(header):
                    shaped[header] = response[header]
            return shaped
        return response


def _size_refusal(request: HttpRequest, is_api: bool) -> HttpResponse | None:
    """A 400 for a Content-Length that is not a number, a 413 above the path's limit, before the body is read."""
    limit = body_limit(request.path)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        code, message, status = "bad_request", "Content-Length is not a number", 400
    else:
        if length <= limit:
            return None
        code, message, status = "body_too_large", f"request body is over the {limit} byte limit", 413
    if is_api:
        return JsonResponse(error_body(code, message), status=status)
    return HttpResponse(f"{message}\n", status=status, content_type="text/plain; charset=utf-8")


def _is_error_shape(response: HttpResponse) -> bool:
    if "json" not in response.get("Content-Type", "") or getattr(response, "streaming", False):
        return False
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), dict) and "code" in body["error"]
