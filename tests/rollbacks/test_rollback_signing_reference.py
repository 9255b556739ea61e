"""What a rollback request really sends, captured by a receiver on 127.0.0.1 and verified by the reference
Standard Webhooks library (`standardwebhooks`): every format, several secrets and reasons."""

from __future__ import annotations

import base64
import secrets

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from rollbacks import services
from rollbacks.models import RollbackEndpoint, RollbackRequest
from tests.receiver import Receiver
from tests.rollbacks.rollback_world import canary_pair, history
from tracker import crypto

pytestmark = pytest.mark.django_db

CASES = [
    ("generic", "", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "p99 doubled"),
    ("github", "ghp_x", "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(), "Früh — ünïcødé ✓"),
    ("gitlab", "glptt-x", "whsec_" + base64.b64encode(secrets.token_bytes(64)).decode(), 'quotes " and \\ slashes'),
]


@pytest.mark.parametrize(("fmt", "token", "secret", "reason"), CASES)
def test_the_reference_library_verifies_the_rollback_request_we_send(project, fmt, token, secret, reason):
    with Receiver() as receiver:
        world = history(project)
        RollbackEndpoint.objects.create(
            project=project,
            url=receiver.url("/rollback"),
            format=fmt,
            secret_encrypted=crypto.encrypt(secret),
            token_encrypted=crypto.encrypt(token) if token else "",
        )
        rollback = services.rollback_request_create(deploy=world.v3, reason=reason)
        services.rollback_dispatch_attempt(rollback_id=str(rollback.pk))
        [sent] = receiver.wait_for(1)
    Webhook(secret).verify(sent.body, sent.headers, json_parse=False)
    assert sent.headers["webhook-id"] == str(rollback.pk)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()).verify(sent.body, sent.headers)
    assert RollbackRequest.objects.get(pk=rollback.pk).state == "dispatched"


@pytest.mark.parametrize(("fmt", "token", "secret", "reason"), CASES)
def test_the_reference_library_verifies_the_promotion_request_we_send(project, fmt, token, secret, reason):
    with Receiver() as receiver:
        pair = canary_pair(project)
        RollbackEndpoint.objects.create(
            project=project,
            url=receiver.url("/release"),
            format=fmt,
            secret_encrypted=crypto.encrypt(secret),
            token_encrypted=crypto.encrypt(token) if token else "",
        )
        promotion = services.promotion_request_create(deploy=pair.challenger, reason=reason)
        services.rollback_dispatch_attempt(rollback_id=str(promotion.pk))
        [sent] = receiver.wait_for(1)
    payload = Webhook(secret).verify(sent.body, sent.headers)
    assert sent.headers["webhook-id"] == str(promotion.pk)
    facts = {
        "generic": lambda p: (p["type"], p["promotion_id"], p["deploy"]["id"], p["reason"]),
        "github": lambda p: (
            p["event_type"],
            p["client_payload"]["promotion_id"],
            p["client_payload"]["deploy"]["id"],
            p["client_payload"]["reason"],
        ),
        "gitlab": lambda p: (
            "promotion.requested",
            p["variables"]["PROMOTION_ID"],
            int(p["variables"]["PROMOTION_DEPLOY_DEPLOY_ID"]),
            p["variables"]["PROMOTION_REASON"],
        ),
    }[fmt](payload)
    assert facts == ("promotion.requested", str(promotion.pk), pair.challenger.pk, reason)
    assert RollbackRequest.objects.get(pk=promotion.pk).state == "dispatched"
