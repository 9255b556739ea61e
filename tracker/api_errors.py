"""One error shape for every 4xx under /api/: {"error": {"code", "message", "fields"}}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from tracker.errors import Conflict, DomainError, Invalid, TooLarge, Unprocessable


class ApiError(exceptions.APIException):
    """An HTTP error raised by the API layer itself (authentication, idempotency, a view's own checks)."""

    def __init__(self, code: str, message: str, status_code: int = 400, fields: dict | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = code
        self.message = message
        self.fields = fields or {}


def error_body(code: str, message: str, fields: dict | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail: Any) -> Any:
    """DRF ErrorDetail trees become plain strings and lists, keyed by field (or row index)."""
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [str(item) for item in detail]
        return {str(i): _flatten(item) for i, item in enumerate(detail) if item}
    return [str(detail)]


_CODES = {
    exceptions.ParseError: ("malformed_body", status.HTTP_400_BAD_REQUEST),
    exceptions.AuthenticationFailed: ("unauthenticated", status.HTTP_401_UNAUTHORIZED),
    exceptions.NotAuthenticated: ("unauthenticated", status.HTTP_401_UNAUTHORIZED),
    exceptions.PermissionDenied: ("forbidden", status.HTTP_403_FORBIDDEN),
    exceptions.NotFound: ("not_found", status.HTTP_404_NOT_FOUND),
    exceptions.MethodNotAllowed: ("method_not_allowed", status.HTTP_405_METHOD_NOT_ALLOWED),
    exceptions.NotAcceptable: ("not_acceptable", status.HTTP_406_NOT_ACCEPTABLE),
    exceptions.UnsupportedMediaType: ("unsupported_media_type", status.HTTP_415_UNSUPPORTED_MEDIA_TYPE),
    exceptions.Throttled: ("rate_limited", status.HTTP_429_TOO_MANY_REQUESTS),
}


# The one place where a service's refusal (tracker.errors) becomes an HTTP status.
DOMAIN_STATUSES: dict[type[DomainError], int] = {
    Invalid: status.HTTP_400_BAD_REQUEST,
    TooLarge: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    Conflict: status.HTTP_409_CONFLICT,
    Unprocessable: status.HTTP_422_UNPROCESSABLE_ENTITY,
}


def domain_status(exc: DomainError) -> int:
    """The HTTP status of a domain error (pages that show the refusal answer with it too): that of its most
    specific kind, so an error that is also a subject's own (`SamplesInvalid`) keeps the status of its kind."""
    return next(
        (DOMAIN_STATUSES[kind] for kind in type(exc).__mro__ if kind in DOMAIN_STATUSES),
        status.HTTP_400_BAD_REQUEST,
    )


# Methods whose input is the query string: their refusals name the parameters, not a body they do not have.
QUERY_METHODS = frozenset({"GET", "HEAD", "DELETE"})


def _invalid_message(context: dict, fields: dict) -> str:
    request = context.get("request")
    if request is None or request.method not in QUERY_METHODS:
        return "the request body is not valid"
    names = [f"'{name}'" for name in sorted(fields) if name != "non_field_errors"]
    if not names:
        return "the query parameters are not valid"
    if len(names) == 1:
        return f"query parameter {names[0]} is not valid"
    return f"query parameters {', '.join(names)} are not valid"


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.message, exc.fields), status=domain_status(exc))
    if isinstance(exc, ApiError):
        return Response(error_body(exc.error_code, exc.message, exc.fields), status=exc.status_code)
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("body_too_large", "request body is over the size limit"), status=413)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        if not isinstance(fields, dict):
            fields = {"non_field_errors": fields}
        return Response(error_body("invalid", _invalid_message(context, fields), fields), status=400)
    for klass, (code, http_status) in _CODES.items():
        if isinstance(exc, klass):
            headers = {}
            if getattr(exc, "wait", None):
                headers["Retry-After"] = str(int(exc.wait))
            if isinstance(exc, exceptions.NotAuthenticated):
                headers["WWW-Authenticate"] = "Bearer"
            return Response(error_body(code, str(exc.detail)), status=http_status, headers=headers)
    return None
