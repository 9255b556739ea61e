"""The e-mail channel as a mail server sees it: a real SMTP server (aiosmtpd) started by the tests.

What arrives is parsed with the standard library's e-mail parser, as a mail client would: a plain-text and
an HTML part, a subject naming service, environment, version and verdict, and one thread per alert group.
A refused recipient, a server that never answers and one that drips its greeting are failed attempts,
each cut off by the outbound deadline.
"""

from __future__ import annotations

import email
import socket
import threading
import time
from datetime import timedelta
from email import policy

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from alerts import services
from alerts.models import Alert, Delivery, DeliveryStatus
from alerts.rules import ColumnFact, DeployFacts
from deployments.services import deploy_record
from metrics.impact.models import ImpactReport

pytestmark = pytest.mark.django_db

GROUP_WAIT = timedelta(seconds=30)


class Mailbox:
    """An aiosmtpd handler: keeps every message; refuses recipients at `refused.example`."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=policy.default))
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp(settings):
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", controller.port, False
    settings.DEFAULT_FROM_EMAIL = "deploy-tracker@tracker.example"
    yield mailbox
    controller.stop()


class SilentServer:
    """Accepts connections and then says nothing (`drip=False`) or drips a greeting that never ends."""

    def __init__(self, *, drip: bool) -> None:
        self.drip = drip
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            while not self.stop.wait(0.2):
                if self.drip:
                    try:
                        conn.sendall(b"220-still greeting you\r\n")
                    except OSError:
                        return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def drifted() -> DeployFacts:
    columns = tuple(ColumnFact(n, "feature", "drifted", 3.0, "ks", 0.001, 0.05, 0.4) for n in ("income", "age"))
    return DeployFacts(columns=columns, has_drift_report=True, reported_at=timezone.now())


def open_alert(project, service: str = "fraud-scorer", version: str = "2026.11.3") -> Alert:
    deploy, _ = deploy_record(
        project=project, service=service, environment="production", version=version, commit_sha="9f2c1e0"
    )
    ImpactReport.objects.create(deploy=deploy, verdict="degraded", score=50.0, computed_at=timezone.now())
    [alert] = services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=timezone.now())
    return alert


def flush_and_send(alert: Alert, at) -> list[Delivery]:
    group = alert.group
    assert services.alert_group_claim(group_id=group.pk, now=at)
    deliveries = services.alert_group_flush(group_id=group.pk, now=at)
    for delivery in deliveries:
        services.delivery_attempt(delivery_id=delivery.pk, now=at)
    return deliveries


def mail_channel(project, *recipients: str):
    channel, _ = services.channel_create(project=project, name="mail", kind="email", email_to=list(recipients))
    return channel


def test_an_alert_arrives_with_a_text_and_an_html_part_and_a_telling_subject(project, smtp) -> None:
    mail_channel(project, "oncall@example.com")
    alert = open_alert(project)
    [delivery] = flush_and_send(alert, timezone.now() + GROUP_WAIT)
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.DELIVERED
    [message] = smtp.messages
    assert smtp.envelopes == [("deploy-tracker@tracker.example", ["oncall@example.com"])]
    subject = message["Subject"]
    for word in ("fraud-scorer", "production", "2026.11.3", "degraded"):
        assert word in subject, (word, subject)
    assert message.is_multipart() and message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "2026.11.3" in text and "verdict degraded" in text
    assert f"/alpha/deploys/{alert.deploy_id}/" in html and "<a href=" in html
    assert message["Message-ID"] == f"<{delivery.message_id}@tracker.example>"


def test_every_message_of_an_alert_group_joins_one_thread_and_other_groups_their_own(project, smtp, alice) -> None:
    mail_channel(project, "oncall@example.com")
    first = open_alert(project)
    start = timezone.now() + GROUP_WAIT
    flush_and_send(first, start)
    services.alert_acknowledge(alert=first, user=alice, now=start + timedelta(minutes=1))
    flush_and_send(first, start + timedelta(minutes=1))
    other = open_alert(project, service="churn-model")
    flush_and_send(other, start + timedelta(minutes=2))
    assert len(smtp.messages) == 3
    fraud, fraud_ack, churn = smtp.messages
    assert fraud["References"] == fraud_ack["References"] == fraud["In-Reply-To"]
    assert churn["References"] != fraud["References"]
    assert len({m["Message-ID"] for m in smtp.messages}) == 3


def test_a_refused_recipient_is_a_failed_attempt_that_is_not_retried(project, smtp) -> None:
    mail_channel(project, "nobody@refused.example")
    alert = open_alert(project)
    [delivery] = flush_and_send(alert, timezone.now() + GROUP_WAIT)
    delivery.refresh_from_db()
    [attempt] = delivery.attempt_log.all()
    assert delivery.status == DeliveryStatus.FAILED
    assert "recipients refused" in attempt.error and "nobody@refused.example" in attempt.error
    assert attempt.retry_at is None  # the server said no: trying again changes nothing
    assert smtp.messages == []


@pytest.mark.parametrize("drip", [False, True], ids=["silent", "dripping"])
def test_a_server_that_hangs_is_cut_off_at_the_deadline_and_retried(project, settings, drip) -> None:
    server = SilentServer(drip=drip)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", server.port, False
    settings.OUTBOUND_TIMEOUT_SECONDS = 1
    mail_channel(project, "oncall@example.com")
    alert = open_alert(project)
    try:
        started = time.monotonic()
        [delivery] = flush_and_send(alert, timezone.now() + GROUP_WAIT)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    delivery.refresh_from_db()
    [attempt] = delivery.attempt_log.all()
    assert elapsed < 3, elapsed  # one second of deadline, not one per dripped line
    assert attempt.error and attempt.status_code is None
    assert delivery.status == DeliveryStatus.PENDING and attempt.retry_at is not None
