"""Secrets at rest: a list of keys (newest first), `manage.py rotate_secrets`, and a recorded, non-crashing
failure when a stored secret cannot be decrypted (issue 11 item 8)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from alerts import services as alert_services
from alerts.models import Channel, Delivery, DeliveryAttempt
from alerts.tasks import delivery_send
from rollbacks import services as rollback_services
from rollbacks.models import RollbackEndpoint, RollbackRequest
from rollbacks.services import rollback_endpoint_set
from rollbacks.tasks import rollback_dispatch
from tests.helpers import error_code
from tests.receiver import Receiver
from tests.rollbacks.rollback_world import history
from tracker import crypto, signing
from tracker.models import ProviderHook, SigningSecret
from tracker.services import provider_secret_issue, signing_secret_issue

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db

OLD, NEW, LOST = Fernet.generate_key().decode(), Fernet.generate_key().decode(), Fernet.generate_key().decode()


def readable_with(key: str, ciphertext: str) -> str:
    return Fernet(key.encode()).decrypt(ciphertext.encode()).decode()


def test_the_newest_key_encrypts_and_every_key_decrypts(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    stored = crypto.encrypt("whsec_old")
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    assert crypto.decrypt(stored) == "whsec_old"
    fresh = crypto.encrypt("whsec_new")
    assert readable_with(NEW, fresh) == "whsec_new"
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    with pytest.raises(crypto.UndecryptableSecret):
        crypto.decrypt(stored)


def test_without_keys_a_key_derived_from_secret_key_is_used_and_still_read_after_keys_are_set(settings):
    settings.FIELD_ENCRYPTION_KEYS = []
    stored = crypto.encrypt("routing-key")
    derived = base64.urlsafe_b64encode(hashlib.sha256(b"deploy-tracker:" + settings.SECRET_KEY.encode()).digest())
    assert readable_with(derived.decode(), stored) == "routing-key"
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    assert crypto.decrypt(stored) == "routing-key"


def settings_in_a_fresh_process(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.FIELD_ENCRYPTION_KEYS)"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "tracker.settings", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_one_key_setting_still_works_and_the_list_wins_over_it():
    assert settings_in_a_fresh_process(FIELD_ENCRYPTION_KEY=OLD).stdout.strip() == str([OLD])
    both = settings_in_a_fresh_process(FIELD_ENCRYPTION_KEY=OLD, FIELD_ENCRYPTION_KEYS=f" {NEW}, {OLD} ")
    assert both.stdout.strip() == str([NEW, OLD])


@pytest.mark.parametrize("name", ["FIELD_ENCRYPTION_KEYS", "FIELD_ENCRYPTION_KEY"])
def test_a_key_that_is_not_a_fernet_key_stops_the_process_naming_the_variable(name):
    result = settings_in_a_fresh_process(**{name: f"{NEW},not-a-key"})
    assert result.returncode != 0 and name in result.stderr and "Fernet" in result.stderr


def every_kind_of_stored_secret(project):
    """One row of each model with an encrypted field, all written under the current keys."""
    signing_secret_issue(project=project)
    provider_secret_issue(project=project, provider="github")
    alert_services.channel_create(project=project, name="hook", kind="webhook", url="http://127.0.0.1:9/h")
    alert_services.channel_create(project=project, name="pd", kind="pagerduty", secret="R0UTINGKEY0123456789")
    rollback_endpoint_set(project=project, url="http://127.0.0.1:9/r", format="github", token="ghp_x")
    world = history(project)
    rollback_services.rollback_request_create(deploy=world.v3, reason="r")


def stored_ciphertexts() -> list[str]:
    values = [
        *SigningSecret.objects.values_list("secret_encrypted", flat=True),
        *ProviderHook.objects.values_list("secret_encrypted", flat=True),
        *Channel.objects.values_list("url_encrypted", flat=True),
        *Channel.objects.values_list("secret_encrypted", flat=True),
        *RollbackEndpoint.objects.values_list("secret_encrypted", flat=True),
        *RollbackEndpoint.objects.values_list("token_encrypted", flat=True),
        *RollbackRequest.objects.values_list("callback_token_encrypted", flat=True),
    ]
    return [v for v in values if v]


def rotate() -> str:
    out = StringIO()
    call_command("rotate_secrets", stdout=out)
    return out.getvalue()


def test_rotate_secrets_re_encrypts_every_stored_secret_with_the_newest_key_and_is_idempotent(project, settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    every_kind_of_stored_secret(project)
    before = {c: crypto.decrypt(c) for c in stored_ciphertexts()}
    assert len(before) == 8
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    report = rotate()
    assert "8 re-encrypted, 0 already current, 0 unreadable" in report
    after = stored_ciphertexts()
    assert sorted(readable_with(NEW, c) for c in after) == sorted(before.values())
    assert "0 re-encrypted, 8 already current, 0 unreadable" in rotate()
    settings.FIELD_ENCRYPTION_KEYS = [NEW]  # the old key can go now
    assert sorted(crypto.decrypt(c) for c in stored_ciphertexts()) == sorted(before.values())


def test_rotate_secrets_reports_what_no_key_can_read_and_rotates_the_rest(project, settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD]
    signing_secret_issue(project=project)
    settings.FIELD_ENCRYPTION_KEYS = [LOST]
    lost = signing_secret_issue(project=project)
    settings.FIELD_ENCRYPTION_KEYS = [NEW, OLD]
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match="1 stored secret"):
        call_command("rotate_secrets", stdout=out, stderr=err)
    assert "1 re-encrypted, 0 already current, 1 unreadable" in out.getvalue()
    assert "tracker.signingsecret" in err.getvalue().lower()
    assert lost not in out.getvalue() + err.getvalue()
    readable = [c for c in SigningSecret.objects.values_list("secret_encrypted", flat=True)]
    assert sum(1 for c in readable if _is_readable(NEW, c)) == 1


def _is_readable(key: str, ciphertext: str) -> bool:
    try:
        readable_with(key, ciphertext)
    except Exception:  # InvalidToken: not readable with this key
        return False
    return True


def test_an_undecryptable_channel_secret_records_a_failed_attempt_and_disables_the_channel(project, settings):
    settings.FIELD_ENCRYPTION_KEYS = [LOST]
    with Receiver() as receiver:
        channel, _ = alert_services.channel_create(project=project, name="hook", kind="webhook", url=receiver.url())
        delivery = alert_services.channel_test(channel=channel)
        settings.FIELD_ENCRYPTION_KEYS = [NEW]  # the key it was stored with is gone
        assert delivery_send(delivery.pk) is False  # the task returns; nothing raises out of it
    assert receiver.requests == []
    delivery = Delivery.objects.get(pk=delivery.pk)
    attempt = DeliveryAttempt.objects.get(delivery=delivery)
    assert delivery.status == "failed" and "cannot be decrypted" in attempt.error
    assert "FIELD_ENCRYPTION_KEYS" in delivery.last_error
    channel.refresh_from_db()
    assert not channel.enabled and "cannot be decrypted" in channel.disabled_reason


def test_an_undecryptable_rollback_endpoint_secret_fails_the_request_with_a_clear_message(project, settings):
    settings.FIELD_ENCRYPTION_KEYS = [LOST]
    with Receiver() as receiver:
        world = history(project)
        rollback_endpoint_set(project=project, url=receiver.url(), format="generic")
        settings.FIELD_ENCRYPTION_KEYS = [NEW]  # the key the endpoint's secret was stored with is gone
        rollback = rollback_services.rollback_request_create(deploy=world.v3, reason="r")
        rollback_dispatch(str(rollback.pk))  # nothing raises out of the task
    assert receiver.requests == []
    row = RollbackRequest.objects.get(pk=rollback.pk)
    assert row.state == "failed" and "cannot be decrypted" in row.message
    assert "cannot be decrypted" in row.attempts.get().error


def test_an_undecryptable_inbound_signing_secret_is_a_401_not_a_500(api, project, settings):
    settings.FIELD_ENCRYPTION_KEYS = [LOST]
    secret = signing_secret_issue(project=project, require=True)
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    body = b'{"service":"s","environment":"production","version":"1"}'
    headers = signing.sign_headers(secret, "msg_1", body)
    response = api.post(
        "/api/v1/deploys",
        data=body,
        content_type="application/json",
        **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()},
    )
    assert response.status_code == 401 and error_code(response) == "signature_unverifiable"


def test_an_undecryptable_native_webhook_secret_is_the_usual_401(project, settings, client):
    settings.FIELD_ENCRYPTION_KEYS = [LOST]
    secret = provider_secret_issue(project=project, provider="github")
    settings.FIELD_ENCRYPTION_KEYS = [NEW]
    body = b"{}"
    response = client.post(
        f"/api/v1/webhooks/github/{project.slug}",
        data=body,
        content_type="application/json",
        HTTP_X_HUB_SIGNATURE_256=signing.github_signature(secret, body),
    )
    assert response.status_code == 401 and error_code(response) == "signature_invalid"
