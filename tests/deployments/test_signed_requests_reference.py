"""Inbound signatures at the HTTP endpoints, signed by the outside world: the shared known-answer vectors
and the reference Standard Webhooks library, never by our own signing code."""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine
from rest_framework.test import APIClient
from standardwebhooks import Webhook

from deployments.models import Deploy
from tests.helpers import error_code
from tracker import crypto
from tracker.models import ProviderHook, SigningSecret

pytestmark = pytest.mark.django_db

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "signing-vectors.json").read_text())
URL = "/api/v1/deploys"


def library_signed(secret: str, body: str, msg_id: str) -> dict[str, str]:
    now = datetime.now(UTC).replace(microsecond=0)
    return {
        "HTTP_WEBHOOK_ID": msg_id,
        "HTTP_WEBHOOK_TIMESTAMP": str(int(now.timestamp())),
        "HTTP_WEBHOOK_SIGNATURE": Webhook(secret).sign(msg_id, now, body),
    }


def add_secret(project, secret: str) -> None:
    SigningSecret.objects.create(project=project, secret_encrypted=crypto.encrypt(secret))
    type(project).objects.filter(pk=project.pk).update(require_signed_webhooks=True)


SECRETS = [
    VECTORS["standard_webhooks"]["secret"],
    "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
    "whsec_" + base64.b64encode(secrets.token_bytes(64)).decode(),
]
EVENTS = [
    {"service": "fraud-scorer", "environment": "production", "version": "2026.11.3"},
    {"service": "churn", "environment": "staging", "version": "7", "changelog": "Früh — ünïcødé ✓", "params": {}},
]


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("event", EVENTS)
def test_a_deploy_event_signed_by_the_reference_library_is_accepted(api, project, secret, event):
    add_secret(project, secret)
    body = json.dumps(event, ensure_ascii=False, indent=1)
    headers = library_signed(secret, body, "msg_" + secrets.token_hex(6))
    response = api.post(URL, data=body.encode(), content_type="application/json", **headers)
    assert response.status_code == 201, response.content
    assert Deploy.objects.get().version == event["version"]


def test_a_library_signature_with_another_secret_is_refused(api, project):
    add_secret(project, SECRETS[1])
    body = json.dumps(EVENTS[0])
    headers = library_signed(SECRETS[2], body, "msg_other")
    response = api.post(URL, data=body.encode(), content_type="application/json", **headers)
    assert response.status_code == 401 and error_code(response) == "signature_invalid"
    assert not Deploy.objects.exists()


def test_the_standard_webhooks_vector_passes_the_signature_check_at_the_endpoint(api, project):
    """Its body is not a deploy event, so it gets as far as validation: a 400, not a 401."""
    vector = VECTORS["standard_webhooks"]
    add_secret(project, vector["secret"])
    headers = {
        f"HTTP_{n.upper().replace('-', '_')}": vector[n]
        for n in ("webhook-id", "webhook-timestamp", "webhook-signature")
    }
    with time_machine.travel(datetime.fromtimestamp(int(vector["webhook-timestamp"]), UTC), tick=False):
        passed = api.post(URL, data=vector["body"].encode(), content_type="application/json", **headers)
        tampered = api.post(URL, data=b'{"test": 2432232315}', content_type="application/json", **headers)
    assert passed.status_code == 400 and error_code(passed) == "invalid"
    assert tampered.status_code == 401 and error_code(tampered) == "signature_invalid"


def test_the_github_vector_passes_the_signature_check_of_the_native_webhook(project):
    """ "Hello, World!" is not JSON: a correct signature gets as far as parsing (400), a wrong one is a 401."""
    vector = VECTORS["github_x_hub_signature_256"]
    ProviderHook.objects.create(project=project, provider="github", secret_encrypted=crypto.encrypt(vector["secret"]))

    def post(signature: str):
        return APIClient().post(
            f"/api/v1/webhooks/github/{project.slug}",
            data=vector["body"].encode(),
            content_type="application/json",
            HTTP_X_HUB_SIGNATURE_256=signature,
            HTTP_X_GITHUB_EVENT="deployment_status",
        )

    passed = post(vector["X-Hub-Signature-256"])
    assert passed.status_code == 400 and error_code(passed) == "malformed_body"
    wrong = post(vector["X-Hub-Signature-256"][:-1] + "0")
    assert wrong.status_code == 401 and error_code(wrong) == "signature_invalid"
