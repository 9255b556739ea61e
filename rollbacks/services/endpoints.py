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

    A secret or token left out keeps the stored one (they are write-only) while the endpoint stays
    where it was: a changed URL or format drops the stored token (it authenticates us to that one
    receiver), and a receiver on another origin gets a new signing secret (one key per receiver, as
    Standard Webhooks asks). A new endpoint without a secret gets a generated one; new secrets are shown once.
    """
    try:
        outbound.check_url(url, policy=outbound.OutboundPolicy.from_settings(settings))
    except outbound.TransportError as exc:
        raise Invalid("the rollback endpoint URL is not allowed", fields={"url": [exc.message]}) from None
    endpoint = RollbackEndpoint.objects.select_for_update().filter(project=project).first()
    endpoint = endpoint or RollbackEndpoint(project=project)
    token_dropped = _forget_credentials_of_another_receiver(endpoint, url=url, format=format, token=token)
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
        # The host only: viewers read the audit log, and a URL's path or query may be a credential.
        details={
            "url_hint": outbound.url_hint(url),
            "format": format,
            "secret_changed": bool(secret or generated),
            "token_changed": token is not None or token_dropped,
        },
    )
    return endpoint, generated


def _forget_credentials_of_another_receiver(
    endpoint: RollbackEndpoint, *, url: str, format: str, token: str | None
) -> bool:
    """Clear what belongs to the receiver being replaced; return whether a stored token was dropped."""
    if endpoint.pk is None:
        return False
    if not outbound.same_origin(endpoint.url, url):
        endpoint.secret_encrypted = ""  # _store_secrets generates a new one unless one is given
    if token is None and endpoint.token_encrypted and (endpoint.url != url or endpoint.format != format):
        endpoint.token_encrypted = ""
        return True
    return False


def _store_secrets(endpoint: RollbackEndpoint, secret: str | None, token: str | None) -> str | None:
    """Encrypt what was given (left out: keep what is stored); return a newly generated signing secret."""
    generated = None
    if secret:
        try:
            signing.secret_check(secret)
        except ValueError as exc:
            raise Invalid("the signing secret is not usable", fields={"secret": [str(exc)]}) from None
        endpoint.secret_encrypted = crypto.encrypt(secret)
    elif not endpoint.secret_encrypted:
        generated = signing.secret_generate()
        endpoint.secret_encrypted = crypto.encrypt(generated)
    if token is not None:
        endpoint.token_encrypted = crypto.encrypt(token) if token else ""
    return generated
