from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from tracker import crypto, signing
from tracker.models import ApiToken, AuditLog, Membership, Project, ProviderHook, Role, Scope, SigningSecret

TOKEN_PREFIX = "dtk_"
logger = logging.getLogger(__name__)


def token_hash(raw: str) -> str:
    # Tokens carry 256 random bits, so a plain SHA-256 is enough (no stretching needed).
    return hashlib.sha256(raw.encode()).hexdigest()


def audit_record(
    *,
    project: Project,
    action: str,
    user: AbstractBaseUser | None = None,
    token: ApiToken | None = None,
    target: Any = None,
    details: dict | None = None,
) -> AuditLog:
    return AuditLog.objects.create(
        project=project,
        action=action,
        actor_user=user if user is not None and user.is_authenticated else None,
        actor_token=token,
        target_type=type(target).__name__.lower() if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        details=details or {},
    )


@transaction.atomic
def project_create(*, slug: str, name: str = "", owner: AbstractBaseUser | None = None) -> Project:
    project = Project(slug=slug, name=name or slug)
    project.full_clean()
    project.save()
    if owner is not None:
        Membership.objects.create(project=project, user=owner, role=Role.ADMIN)
    audit_record(project=project, action="project.created", user=owner)
    return project


def membership_set(*, project: Project, user: AbstractBaseUser, role: str) -> Membership:
    membership, _ = Membership.objects.update_or_create(project=project, user=user, defaults={"role": role})
    return membership


@transaction.atomic
def token_issue(
    *, project: Project, name: str, scopes: list[str], created_by: AbstractBaseUser | None = None
) -> tuple[ApiToken, str]:
    """Create a token; the raw value is returned once and only its hash is stored."""
    unknown = set(scopes) - set(Scope.values)
    if unknown or not scopes:
        raise ValueError(f"scopes must be a non-empty subset of {', '.join(Scope.values)}")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        project=project,
        name=name,
        prefix=raw[:12],
        token_hash=token_hash(raw),
        scopes=sorted(set(scopes)),
        created_by=created_by,
    )
    audit_record(project=project, action="token.issued", user=created_by, target=token, details={"scopes": scopes})
    return token, raw


def token_revoke(*, token: ApiToken, user: AbstractBaseUser | None = None) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at=None).update(revoked_at=timezone.now())
    audit_record(project=token.project, action="token.revoked", user=user, target=token)


@transaction.atomic
def signing_secret_issue(*, project: Project, require: bool = False, user: AbstractBaseUser | None = None) -> str:
    """A new inbound signing secret (older ones stay valid until revoked, for rotation)."""
    secret = signing.secret_generate()
    record = SigningSecret.objects.create(project=project, secret_encrypted=crypto.encrypt(secret))
    if require and not project.require_signed_webhooks:
        Project.objects.filter(pk=project.pk).update(require_signed_webhooks=True)
        project.require_signed_webhooks = True
    audit_record(
        project=project, action="signing_secret.issued", user=user, target=record, details={"require": require}
    )
    return secret


def signing_secrets_active(*, project: Project) -> list[str]:
    """The project's inbound secrets; one no configured key decrypts is logged and left out (never a 500)."""
    rows = SigningSecret.objects.filter(project=project, revoked_at=None).values_list("pk", "secret_encrypted")
    secrets_ = []
    for pk, value in rows:
        try:
            secrets_.append(crypto.decrypt(value))
        except crypto.UndecryptableSecret as exc:
            logger.error("signing secret #%s of project %s: %s", pk, project.slug, exc)
    return secrets_


def signing_secret_revoke(*, secret: SigningSecret, user: AbstractBaseUser | None = None) -> None:
    SigningSecret.objects.filter(pk=secret.pk, revoked_at=None).update(revoked_at=timezone.now())
    audit_record(project=secret.project, action="signing_secret.revoked", user=user, target=secret)


def signing_required_set(*, project: Project, required: bool, user: AbstractBaseUser | None = None) -> None:
    Project.objects.filter(pk=project.pk).update(require_signed_webhooks=required)
    project.require_signed_webhooks = required
    audit_record(project=project, action="signing_required.changed", user=user, details={"required": required})


def provider_secret_issue(*, project: Project, provider: str, user: AbstractBaseUser | None = None) -> str:
    """A new shared secret for a native provider webhook; it replaces the previous one."""
    secret = secrets.token_urlsafe(32)
    hook, _ = ProviderHook.objects.update_or_create(
        project=project, provider=provider, defaults={"secret_encrypted": crypto.encrypt(secret)}
    )
    audit_record(
        project=project, action="provider_secret.issued", user=user, target=hook, details={"provider": provider}
    )
    return secret


def provider_secret(*, project: Project, provider: str) -> str | None:
    hook = ProviderHook.objects.filter(project=project, provider=provider).first()
    return crypto.decrypt(hook.secret_encrypted) if hook else None


def provider_hook_find(*, project_slug: str, provider: str) -> tuple[Project, str] | None:
    """The project and its secret for a native webhook URL, in one query; None when either is missing.

    The caller answers "unknown project" and "no secret" alike, so a URL does not tell which slugs exist.
    """
    hook = ProviderHook.objects.select_related("project").filter(project__slug=project_slug, provider=provider).first()
    if hook is None:
        return None
    try:
        return hook.project, crypto.decrypt(hook.secret_encrypted)
    except crypto.UndecryptableSecret as exc:
        logger.error("%s webhook secret of project %s: %s", provider, project_slug, exc)
        return None
