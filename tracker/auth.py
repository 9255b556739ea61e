"""API authentication (project-scoped bearer tokens), scopes, and optional signed bodies."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import authentication, permissions
from rest_framework.request import Request

from tracker import signing
from tracker.api_errors import ApiError
from tracker.models import ApiToken, Project
from tracker.selectors import token_active
from tracker.services import TOKEN_PREFIX, signing_secrets_active, token_hash

# last_used_at is a hint, not a log: write it at most once a minute per token.
LAST_USED_RESOLUTION_SECONDS = 60


class TokenPrincipal:
    """What `request.user` is for a token: the token's project, never a person."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, token: ApiToken) -> None:
        self.token = token
        self.project = token.project

    def __str__(self) -> str:
        return f"token {self.token.prefix}"


class BearerTokenAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[TokenPrincipal, ApiToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        raw = raw.strip()
        if scheme.lower() != "bearer" or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
            raise ApiError("invalid_token", "Authorization must be 'Bearer <token>' with a valid token", 401)
        token = token_active(token_hash=token_hash(raw))
        if token is None:
            raise ApiError("invalid_token", "the token is unknown or revoked", 401)
        _touch(token)
        request.project = token.project
        return TokenPrincipal(token), token

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


def _touch(token: ApiToken) -> None:
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


def scope_required(*scopes: str) -> type[permissions.BasePermission]:
    """A token with any one of `scopes` passes (`scope_required("rollback", "admin")`)."""

    class HasScope(permissions.BasePermission):
        message = f"this token lacks the {' or '.join(repr(scope) for scope in scopes)} scope"

        def has_permission(self, request: Request, view: object) -> bool:
            token = request.auth
            if not isinstance(token, ApiToken):
                return False
            if not any(token.has_scope(scope) for scope in scopes):
                raise ApiError("insufficient_scope", self.message, 403)
            return True

    HasScope.__name__ = f"HasScope_{'_or_'.join(scopes)}"
    return HasScope


def signed_body_check(request: Request, project: Project) -> str | None:
    """Verify a Standard Webhooks signature if present (or required); return the webhook id.

    Runs on the raw body before parsing. A malformed, stale or wrong signature is a 401.
    """
    headers = {
        name: request.META.get("HTTP_" + name.upper().replace("-", "_"), "")
        for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    if not any(headers.values()):
        if project.require_signed_webhooks:
            raise ApiError("signature_required", "this project requires signed requests (Standard Webhooks)", 401)
        return None
    secrets_ = signing_secrets_active(project=project)
    if not secrets_:
        raise ApiError("signature_unverifiable", "the project has no readable signing secret; issue one", 401)
    try:
        return signing.verify(secrets_, headers, request._request.body)
    except signing.SignatureError as exc:
        raise ApiError(exc.code, exc.message, 401) from None
