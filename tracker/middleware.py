"""Keeps every 4xx under /api/ in the error shape, and enforces request-size limits early."""

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
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(error_body("bad_request", "Content-Length is not a number"), status=400)
        if length > body_limit(request.path):
            return JsonResponse(
                error_body("body_too_large", f"request body is over the {body_limit(request.path)} byte limit"),
                status=413,
            )
        response = self.get_response(request)
        if 400 <= response.status_code < 500 and not _is_error_shape(response):
            code = _DEFAULT_CODES.get(response.status_code, "client_error")
            message = response.reason_phrase or code
            shaped = JsonResponse(error_body(code, message), status=response.status_code)
            for header in ("Allow", "Retry-After", "WWW-Authenticate"):
                if response.has_header(header):
                    shaped[header] = response[header]
            return shaped
        return response


def _is_error_shape(response: HttpResponse) -> bool:
    if "json" not in response.get("Content-Type", "") or getattr(response, "streaming", False):
        return False
    try:
        body = json.loads(response.content)
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(body.get("error"), dict) and "code" in body["error"]
