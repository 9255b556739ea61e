"""The project's rollback endpoint: where requests go, in which format, with write-only secrets."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from rollbacks import payloads
from rollbacks.models import RollbackEndpoint
from tracker import crypto, outbound, signing
from tracker.errors import Invalid
from tracker.models import ApiToken, Project
from tracker.services import audit_record


@transaction.atomic
def rollback_endpoint_set(
    *,
    project: Project,
    url: str,
    format: str,
    secret: str | None = None,
    token: str | None = None,
    ref: str = "main",
    event_type: str = payloads.EVENT_TYPE,
    user: AbstractBaseUser | None = None,
    api_token: ApiToken | None = None,
) -> tuple[RollbackEndpoint, str | None]:
    """Create or replace the endpoint. Returns it and the signing secret when a new one was made.

    A secret or token left out keeps the stored one (they are write-only); a new endpoint
    without a secret gets a generated one, shown once.
    """
    try:
        outbound.check_url(url, policy=outbound.OutboundPolicy.from_settings(settings))
    except outbound.TransportError as exc:
        raise Invalid("the rollback endpoint URL is not allowed", fields={"url": [exc.message]}) from None
    endpoint = RollbackEndpoint.objects.select_for_update().filter(project=project).first()
    endpoint = endpoint or RollbackEndpoint(project=project)
    generated = _store_secrets(endpoint, secret, token)
    if format == payloads.EndpointFormat.GITLAB and not endpoint.token_encrypted:
        fields = {"token": ["required for the gitlab format"]}
        raise Invalid("a GitLab pipeline trigger needs its trigger token", fields=fields)
    endpoint.url, endpoint.format, endpoint.ref, endpoint.event_type = url, format, ref, event_type
    endpoint.updated_by = user if user is not None and user.is_authenticated else None
    endpoint.save()
    audit_record(
        project=project,
        action="rollback_endpoint.updated",
        user=user,
        token=api_token,
        target=endpoint,
        details={
            "url": url,
            "format": format,
            "secret_changed": bool(secret or generated),
            "token_changed": token is not None,
        },
    )
    return endpoint, generated


def _store_secrets(endpoint: RollbackEndpoint, secret: str | None, token: str | None) -> str | None:
    """Encrypt what was given (left out: keep what is stored); return a newly generated signing secret."""
    generated = None
    if secret:
        try:
            signing.sign(secret, "check", 0, b"")
        except ValueError:
            raise Invalid("the secret is not whsec_<base64>", fields={"secret": ["not valid base64"]}) from None
        endpoint.secret_encrypted = crypto.encrypt(secret)
    elif not endpoint.secret_encrypted:
        generated = signing.secret_generate()
        endpoint.secret_encrypted = crypto.encrypt(generated)
    if token is not None:
        endpoint.token_encrypted = crypto.encrypt(token) if token else ""
    return generated
