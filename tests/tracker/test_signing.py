"""tracker/signing.py against the world: the shared known-answer vectors and the reference library.

`standardwebhooks` (PyPI, the Standard Webhooks project's own Python implementation) signs what we
verify and verifies what we sign, for several secrets and bodies, so a bug that is symmetric in our
own sign and verify (a wrong key decoding, a wrong separator) cannot pass.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tracker import signing

VECTORS = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "signing-vectors.json").read_text())
STANDARD = VECTORS["standard_webhooks"]
GITHUB = VECTORS["github_x_hub_signature_256"]


def test_every_vector_in_the_file_is_covered_here():
    assert set(VECTORS) == {"standard_webhooks", "github_x_hub_signature_256"}


def test_it_signs_the_standard_webhooks_vector_exactly():
    ts = int(STANDARD["webhook-timestamp"])
    body = STANDARD["body"].encode()
    headers = signing.sign_headers(STANDARD["secret"], STANDARD["webhook-id"], body, now=ts)
    assert headers == {
        "webhook-id": STANDARD["webhook-id"],
        "webhook-timestamp": STANDARD["webhook-timestamp"],
        "webhook-signature": STANDARD["webhook-signature"],
    }


def test_it_verifies_the_standard_webhooks_vector_and_nothing_altered():
    ts = int(STANDARD["webhook-timestamp"])
    headers = {name: STANDARD[name] for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    body = STANDARD["body"].encode()
    assert signing.verify([STANDARD["secret"]], headers, body, now=ts) == STANDARD["webhook-id"]
    for altered_headers, altered_body in (
        (headers, body.replace(b"2432232314", b"2432232315")),
        ({**headers, "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJeK"}, body),
        ({**headers, "webhook-timestamp": str(ts + 1)}, body),
    ):
        with pytest.raises(signing.SignatureError) as caught:
            signing.verify([STANDARD["secret"]], altered_headers, altered_body, now=ts)
        assert caught.value.code == "signature_invalid"


def test_it_signs_and_verifies_the_github_vector():
    body = GITHUB["body"].encode()
    assert signing.github_signature(GITHUB["secret"], body) == GITHUB["X-Hub-Signature-256"]
    assert signing.github_verify(GITHUB["secret"], GITHUB["X-Hub-Signature-256"], body)
    assert not signing.github_verify(GITHUB["secret"], GITHUB["X-Hub-Signature-256"], body + b"!")
    assert not signing.github_verify("another secret", GITHUB["X-Hub-Signature-256"], body)


def whsec(n_bytes: int) -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(n_bytes)).decode()


SECRETS = [STANDARD["secret"], signing.secret_generate(), whsec(32), whsec(64)]
BODIES = [
    b'{"type":"alert.firing","n":1}',
    json.dumps({"reason": "p99 doubled — ünïcødé ✓", "nested": {"a": [1, 2.5, None]}}, ensure_ascii=False).encode(),
    b"",
    b'{\n  "spaced": "and\\nescaped"\n}',
]


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("body", BODIES)
def test_the_reference_library_verifies_what_we_sign(secret, body):
    headers = signing.sign_headers(secret, "msg_" + secrets.token_hex(8), body)
    Webhook(secret).verify(body, headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        Webhook(whsec(24)).verify(body, headers, json_parse=False)


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("body", BODIES)
def test_we_verify_what_the_reference_library_signs(secret, body):
    msg_id = "msg_" + secrets.token_hex(8)
    now = datetime.now(UTC).replace(microsecond=0)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body.decode()),
    }
    assert signing.verify([secret], headers, body) == msg_id
    with pytest.raises(signing.SignatureError):
        signing.verify([whsec(24)], headers, body)


def test_we_accept_any_of_several_library_signatures_during_a_secret_rotation():
    old, new = whsec(24), whsec(24)
    body = b'{"service":"fraud-scorer"}'
    now = datetime.now(UTC).replace(microsecond=0)
    signatures = " ".join(Webhook(s).sign("msg_rot", now, body.decode()) for s in (old, new))
    headers = {"webhook-id": "msg_rot", "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signatures}
    assert signing.verify([new], headers, body) == "msg_rot"
    assert signing.verify([old], headers, body) == "msg_rot"
    with pytest.raises(signing.SignatureError):
        signing.verify([whsec(24)], headers, body)


@pytest.mark.parametrize("msg_id", ["msg.1", "", "msg 1", "msg_\u00e9", "x" * 201])
def test_it_refuses_to_sign_a_webhook_id_the_spec_forbids(msg_id):
    with pytest.raises(ValueError):
        signing.sign_headers(signing.secret_generate(), msg_id, b"{}")


@pytest.mark.parametrize("n_bytes", [24, 25, 26, 32, 64])
def test_unpadded_base64_secrets_work_as_in_the_reference_library(n_bytes):
    padded = whsec(n_bytes)
    unpadded = padded.rstrip("=")
    # The reference library decodes the unpadded secret to the same key bytes as the padded one.
    assert Webhook(unpadded)._whsecret == Webhook(padded)._whsecret == signing._secret_key(unpadded)
    signing.secret_check(unpadded)
    body, now = b'{"n":1}', datetime.now(UTC)
    headers = signing.sign_headers(unpadded, "msg_unpadded", body, now=now.timestamp())
    assert Webhook(unpadded).verify(body, headers) == {"n": 1}
    theirs = Webhook(unpadded).sign("msg_theirs", now, body.decode())
    ours = {"webhook-id": "msg_theirs", "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": theirs}
    assert signing.verify([padded], ours, body, now=now.timestamp()) == "msg_theirs"


@pytest.mark.parametrize("n_bytes", [1, 16, 23])
def test_keys_under_24_bytes_are_refused_though_the_reference_library_would_take_them(n_bytes):
    secret = whsec(n_bytes)
    Webhook(secret)  # accepted there: the minimum is ours
    with pytest.raises(ValueError, match="at least 24 bytes"):
        signing.secret_check(secret)
    with pytest.raises(ValueError, match="at least 24 bytes"):
        signing.secret_check(secret.rstrip("="))


@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_" + "A" * 33, "whsec_"])
def test_a_secret_that_is_not_base64_is_refused_with_the_shape_it_needs(secret):
    with pytest.raises(ValueError, match=r"whsec_ followed by base64|at least 24 bytes"):
        signing.secret_check(secret)
