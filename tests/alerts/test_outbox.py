"""From a drifted deploy to signed HTTP requests on a real receiver on 127.0.0.1 (acceptance 1 and 2).

The receiver is allowed by OUTBOUND_ALLOWED_NETWORKS=127.0.0.0/8 (the test settings); time is
passed to the services explicitly, so group_wait and retries are stepped through by hand.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from alerts import services
from alerts.models import AlertGroup, AlertStatus, Channel, Delivery, DeliveryStatus
from alerts.rules import ColumnFact, DeployFacts
from alerts.services.delivery import DELIVERY_LEASE
from deployments.models import Deploy
from deployments.services import deploy_record
from tests.receiver import Receiver, Reply
from tracker import crypto, signing

pytestmark = pytest.mark.django_db

GROUP_WAIT = timedelta(seconds=30)


def drifted() -> DeployFacts:
    columns = (
        ColumnFact("income", "feature", "drifted", 3.2, "ks", 0.0004, 0.05, 0.41),
        ColumnFact("age", "feature", "drifted", 2.1, "ks", 0.003, 0.05, 0.22),
        ColumnFact("zip", "feature", "stable", 0.3, "chisquare", 0.41, 0.05, 0.01),
        ColumnFact("score", "prediction", "stable", 0.2, "ks", 0.6, 0.05, 0.01),
    )
    return DeployFacts(columns=columns, has_drift_report=True, reported_at=timezone.now())


def clean() -> DeployFacts:
    columns = tuple(ColumnFact(n, "feature", "stable", 0.1, "ks", 0.7, 0.05, 0.01) for n in ("income", "age", "zip"))
    return DeployFacts(columns=columns, has_drift_report=True, reported_at=timezone.now())


@pytest.fixture
def deploy(project) -> Deploy:
    deploy, _ = deploy_record(
        project=project,
        service="fraud-scorer",
        environment="production",
        version="2026.11.3",
        author="dana",
        model_name="fraud-gbm",
        model_version="41",
        commit_sha="9f2c1e0",
    )
    return deploy


def add_channel(project, kind: str, url: str | None = None, **kw) -> tuple[Channel, str | None]:
    return services.channel_create(project=project, name=f"{kind}-{url}", kind=kind, url=url, **kw)


def flush_due(now) -> list[Delivery]:
    created = []
    for group in AlertGroup.objects.filter(next_flush_at__lte=now):
        if services.alert_group_claim(group_id=group.pk, now=now):
            created += services.alert_group_flush(group_id=group.pk, now=now)
    return created


def send_due(now) -> None:
    for delivery_id in Delivery.objects.filter(status="pending", next_attempt_at__lte=now).values_list("pk", flat=True):
        services.delivery_attempt(delivery_id=delivery_id, now=now)


def test_a_drifted_deploy_makes_one_signed_delivery_per_channel(project, deploy, settings) -> None:
    with Receiver() as receiver:
        settings.PAGERDUTY_EVENTS_URL = receiver.url("/pagerduty")
        webhook, secret = add_channel(project, "webhook", receiver.url("/hook"))
        add_channel(project, "slack", receiver.url("/slack"))
        add_channel(project, "pagerduty", secret="R0UTINGKEY0123456789abcdefABCDEF")
        now = timezone.now()
        opened = services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=now)
        # The same report judged again (a duplicate task) changes nothing.
        assert services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=now) == []
        assert [a.rule_key for a in opened] == ["drift-share"]
        assert flush_due(now + GROUP_WAIT - timedelta(seconds=1)) == []
        deliveries = flush_due(now + GROUP_WAIT)
        assert len(deliveries) == 3
        send_due(now + GROUP_WAIT)
        send_due(now + GROUP_WAIT + timedelta(minutes=10))
        requests = receiver.wait_for(3)
    assert sorted(r.path for r in requests) == ["/hook", "/pagerduty", "/slack"]
    hook = next(r for r in requests if r.path == "/hook")
    delivery = Delivery.objects.get(channel=webhook)
    assert signing.verify([secret], hook.headers, hook.body) == delivery.message_id
    body = json.loads(hook.body)
    assert body["type"] == "alert.firing"
    assert body["deploy"]["version"] == "2026.11.3"
    assert body["alerts"][0]["numbers"]["drifted"] == ["age", "income"]
    assert body["links"]["deploy"].endswith(f"/alpha/deploys/{deploy.pk}/")
    pagerduty = json.loads(next(r for r in requests if r.path == "/pagerduty").body)
    assert pagerduty["routing_key"] == "R0UTINGKEY0123456789abcdefABCDEF"
    assert pagerduty["dedup_key"] == AlertGroup.objects.get().key
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.DELIVERED}


def test_it_stores_channel_secrets_encrypted_and_never_in_the_outbox(project, settings) -> None:
    with Receiver() as receiver:
        channel, _ = add_channel(project, "pagerduty", secret="R0UTINGKEY0123456789abcdefABCDEF")
        slack, _ = add_channel(project, "slack", receiver.url("/services/T000/B000/XXXX"))
    assert "R0UTINGKEY" not in channel.secret_encrypted
    assert crypto.decrypt(channel.secret_encrypted) == "R0UTINGKEY0123456789abcdefABCDEF"
    assert "XXXX" not in slack.url_encrypted and "XXXX" not in slack.url_hint
    delivery = services.channel_test(channel=channel)
    assert "routing_key" not in delivery.payload


def test_acknowledge_and_resolve_reach_pagerduty_with_the_triggers_dedup_key(project, deploy, settings, alice) -> None:
    with Receiver() as receiver:
        settings.PAGERDUTY_EVENTS_URL = receiver.url("/pagerduty")
        add_channel(project, "pagerduty", secret="R0UTINGKEY0123456789abcdefABCDEF")
        now = timezone.now()
        [alert] = services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=now)
        flush_due(now + GROUP_WAIT)
        send_due(now + GROUP_WAIT)
        ack_at = now + timedelta(minutes=2)
        services.alert_acknowledge(alert=alert, user=alice, now=ack_at)
        flush_due(ack_at)
        send_due(ack_at)
        resolve_at = now + timedelta(minutes=3)
        services.alert_resolve(alert=alert, user=alice, now=resolve_at)
        flush_due(resolve_at)
        send_due(resolve_at)
        events = [json.loads(r.body) for r in receiver.wait_for(3)]
    assert [e["event_action"] for e in events] == ["trigger", "acknowledge", "resolve"]
    assert len({e["dedup_key"] for e in events}) == 1
    assert set(events[1]) == {"routing_key", "dedup_key", "event_action"}


def test_it_retries_a_500_and_delivers_on_the_next_try(project, deploy) -> None:
    with Receiver([Reply(500, b"boom")]) as receiver:
        add_channel(project, "webhook", receiver.url())
        now = timezone.now()
        services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=now)
        [delivery] = flush_due(now + GROUP_WAIT)
        first = services.delivery_attempt(delivery_id=delivery.pk, now=now + GROUP_WAIT)
        delivery.refresh_from_db()
        assert (first.status_code, delivery.status, delivery.attempts) == (500, "pending", 1)
        assert first.response_excerpt == "boom"
        # Backoff with jitter: 15-30 s after the first failure (base 30 s, upper half of the step).
        wait = delivery.next_attempt_at - (now + GROUP_WAIT)
        assert timedelta(seconds=15) <= wait <= timedelta(seconds=30)
        assert (
            services.delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at - timedelta(seconds=1))
            is None
        )
        second = services.delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at)
        receiver.wait_for(2)
    delivery.refresh_from_db()
    assert (second.status_code, delivery.status, delivery.attempts) == (200, "delivered", 2)
    ids = {r.headers["webhook-id"] for r in receiver.requests}
    assert ids == {delivery.message_id}


def test_it_gives_up_at_once_on_a_404(project, deploy) -> None:
    with Receiver([Reply(404, b"no such hook")]) as receiver:
        channel, _ = add_channel(project, "webhook", receiver.url())
        now = timezone.now()
        services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=now)
        [delivery] = flush_due(now + GROUP_WAIT)
        services.delivery_attempt(delivery_id=delivery.pk, now=now + GROUP_WAIT)
        send_due(now + timedelta(days=1))
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", 1, "HTTP 404")
    assert len(receiver.requests) == 1
    channel.refresh_from_db()
    assert channel.enabled


def test_it_honours_retry_after_on_a_429(project, deploy) -> None:
    with Receiver([Reply(429, b"slow down", {"Retry-After": "600"})]) as receiver:
        add_channel(project, "webhook", receiver.url())
        now = timezone.now()
        services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=now)
        [delivery] = flush_due(now + GROUP_WAIT)
        attempt = services.delivery_attempt(delivery_id=delivery.pk, now=now + GROUP_WAIT)
        delivery.refresh_from_db()
        assert delivery.next_attempt_at == now + GROUP_WAIT + timedelta(seconds=600)
        assert attempt.retry_at == delivery.next_attempt_at
        send_due(now + GROUP_WAIT + timedelta(seconds=599))
        assert len(receiver.requests) == 1
        send_due(now + GROUP_WAIT + timedelta(seconds=600))
        receiver.wait_for(2)
    delivery.refresh_from_db()
    assert delivery.status == "delivered"


def test_a_410_disables_the_channel_and_says_why(project, deploy) -> None:
    with Receiver([Reply(410, b"gone")]) as receiver:
        channel, _ = add_channel(project, "webhook", receiver.url())
        now = timezone.now()
        services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=now)
        [delivery] = flush_due(now + GROUP_WAIT)
        services.delivery_attempt(delivery_id=delivery.pk, now=now + GROUP_WAIT)
    channel.refresh_from_db()
    assert not channel.enabled
    assert channel.disabled_reason == "the receiver answered 410 Gone"
    assert project.audit_entries.filter(action="channel.disabled").exists()


def test_a_run_of_failures_disables_the_channel(project, deploy, settings) -> None:
    settings.ALERT_CHANNEL_DISABLE_AFTER = 3
    with Receiver() as receiver:
        receiver.default = Reply(503, b"down")
        channel, _ = add_channel(project, "webhook", receiver.url())
        now = timezone.now()
        services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=now)
        [delivery] = flush_due(now + GROUP_WAIT)
        for hours in range(1, 6):
            send_due(now + timedelta(hours=hours))
    channel.refresh_from_db()
    delivery.refresh_from_db()
    assert not channel.enabled
    assert channel.disabled_reason.startswith("3 delivery attempts in a row failed")
    assert delivery.status == "failed"
    assert delivery.attempts == 4  # the fourth try found the channel disabled and stopped
    assert len(receiver.requests) == 3


def test_the_sweep_counts_a_dead_workers_claim_as_a_failed_try_and_delivers_once_later(
    project, deploy, settings
) -> None:
    with Receiver() as receiver:
        channel, _ = add_channel(project, "webhook", receiver.url())
        now = timezone.now()
        services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=now)
        [delivery] = flush_due(now + GROUP_WAIT)
        # A worker claims the row and dies before sending: the row sits in `sending`.
        assert services.delivery_claim(delivery_id=delivery.pk, now=now + GROUP_WAIT)
        assert services.delivery_attempt(delivery_id=delivery.pk, now=now + GROUP_WAIT) is None
        assert services.deliveries_due(now=now + GROUP_WAIT + timedelta(seconds=30)) == []
        later = now + GROUP_WAIT + DELIVERY_LEASE + timedelta(seconds=11)
        # The expired lease is the first try, failed; the retry waits its backoff like any other.
        assert services.deliveries_due(now=later) == []
        delivery.refresh_from_db()
        [lost] = delivery.attempt_log.all()
        assert (delivery.status, delivery.attempts, lost.number) == ("pending", 1, 1)
        assert "lease" in lost.error and lost.retry_at == delivery.next_attempt_at
        assert timedelta(seconds=15) <= delivery.next_attempt_at - later <= timedelta(seconds=30)
        retry = delivery.next_attempt_at + timedelta(seconds=settings.ALERT_SWEEP_GRACE_SECONDS)
        due = services.deliveries_due(now=retry)
        assert due == [delivery.pk]
        for delivery_id in due + due:  # a duplicate message is harmless: the claim lets one through
            services.delivery_attempt(delivery_id=delivery_id, now=retry)
        receiver.wait_for(1)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, len(receiver.requests)) == ("delivered", 2, 1)
    channel.refresh_from_db()
    assert channel.consecutive_failures == 0


def test_claims_that_keep_expiring_end_the_retries_at_the_maximum(project, deploy, settings) -> None:
    """A receiver that outlives every worker's time limit must not be re-sent forever by the sweep."""
    settings.ALERT_DELIVERY_MAX_ATTEMPTS = 3
    channel, _ = add_channel(project, "webhook", "http://127.0.0.1:9/hook")
    now = timezone.now()
    services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=now)
    [delivery] = flush_due(now + GROUP_WAIT)
    at = now + GROUP_WAIT
    for _ in range(3):
        delivery.refresh_from_db()
        at = max(at, delivery.next_attempt_at)
        assert services.delivery_claim(delivery_id=delivery.pk, now=at)  # claimed, then the worker is killed
        at += DELIVERY_LEASE + timedelta(seconds=1)
        services.deliveries_due(now=at)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert [a.number for a in delivery.attempt_log.all()] == [1, 2, 3]
    assert services.deliveries_due(now=at + timedelta(days=1)) == []
    channel.refresh_from_db()
    assert channel.consecutive_failures == 3


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (SoftTimeLimitExceeded(), "timed out: the worker's time limit ended the attempt"),
        (RuntimeError("boom"), "internal error: RuntimeError"),
    ],
)
def test_a_failure_raised_inside_the_send_is_recorded_as_a_failed_try(project, deploy, monkeypatch, raised, expected):
    add_channel(project, "webhook", "http://127.0.0.1:9/hook")
    now = timezone.now()
    services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=now)
    [delivery] = flush_due(now + GROUP_WAIT)

    def send(*args, **kwargs):
        raise raised

    monkeypatch.setattr("tracker.outbound.send", send)
    attempt = services.delivery_attempt(delivery_id=delivery.pk, now=now + GROUP_WAIT)
    delivery.refresh_from_db()
    assert attempt.error == expected
    assert (delivery.status, delivery.attempts, delivery.claimed_at) == ("pending", 1, None)
    assert delivery.last_error == expected


def test_a_clean_report_resolves_only_after_three_in_a_row(project, deploy) -> None:
    now = timezone.now()
    [alert] = services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=now)
    for minute in (1, 2):
        facts = DeployFacts(**{**clean().__dict__, "reported_at": now + timedelta(minutes=minute)})
        assert services.alerts_evaluate_deploy(deploy=deploy, facts=facts, now=now + timedelta(minutes=minute)) == []
    alert.refresh_from_db()
    assert (alert.status, alert.clean_streak) == (AlertStatus.FIRING, 2)
    facts = DeployFacts(**{**clean().__dict__, "reported_at": now + timedelta(minutes=3)})
    [resolved] = services.alerts_evaluate_deploy(deploy=deploy, facts=facts, now=now + timedelta(minutes=3))
    assert (resolved.status, resolved.resolved_reason) == ("resolved", "clean")


def test_a_rollback_resolves_the_deploys_alerts_once_it_is_stored(
    project, deploy, django_capture_on_commit_callbacks
) -> None:
    now = timezone.now()
    before = {"finished_at": now - timedelta(hours=1)}
    deploy_record(project=project, service="fraud-scorer", environment="production", version="2026.11.2", **before)
    [alert] = services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=now)
    # Putting 2026.11.2 back undoes 2026.11.3; alerts react after the rollback commits, not inside its transaction.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        deploy_record(project=project, service="fraud-scorer", environment="production", version="2026.11.2")
    alert.refresh_from_db()
    assert alert.status == "firing"
    for callback in callbacks:
        callback()
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_reason) == ("resolved", "rolled_back")
    group = AlertGroup.objects.get()
    assert group.next_flush_at is not None


def test_a_later_deploy_supersedes_the_alerts_of_an_earlier_one(project, deploy) -> None:
    [alert] = services.alerts_evaluate_deploy(deploy=deploy, facts=drifted())
    later, _ = deploy_record(project=project, service="fraud-scorer", environment="production", version="2026.11.4")
    services.alerts_resolve_superseded(deploy=later)
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_reason) == ("resolved", "superseded")
    # A late report for the replaced deploy opens nothing.
    assert services.alerts_evaluate_deploy(deploy=deploy, facts=drifted()) == []


def test_expected_drift_never_pages(project, settings) -> None:
    deploy, _ = deploy_record(
        project=project,
        service="fraud-scorer",
        environment="production",
        version="2026.11.5",
        expected_drift=["income", "age"],
    )
    facts = DeployFacts(**{**drifted().__dict__, "expected_drift": frozenset(deploy.expected_drift)})
    assert services.alerts_evaluate_deploy(deploy=deploy, facts=facts) == []


def test_a_url_that_became_internal_is_refused_at_send_time_without_connecting(project, deploy, settings) -> None:
    with Receiver() as receiver:
        add_channel(project, "webhook", receiver.url())
        now = timezone.now()
        services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=now)
        [delivery] = flush_due(now + GROUP_WAIT)
        settings.OUTBOUND_ALLOWED_NETWORKS = []  # the loopback receiver is no longer allowed
        attempt = services.delivery_attempt(delivery_id=delivery.pk, now=now + GROUP_WAIT)
    delivery.refresh_from_db()
    assert "not a public address" in attempt.error
    assert (delivery.status, receiver.requests) == ("failed", [])


def test_a_redirect_to_an_internal_address_is_not_followed(project, deploy) -> None:
    redirect = Reply(307, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})
    with Receiver([redirect]) as receiver:
        add_channel(project, "webhook", receiver.url())
        now = timezone.now()
        services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=now)
        [delivery] = flush_due(now + GROUP_WAIT)
        attempt = services.delivery_attempt(delivery_id=delivery.pk, now=now + GROUP_WAIT)
    delivery.refresh_from_db()
    assert (attempt.status_code, delivery.status, len(receiver.requests)) == (307, "failed", 1)
    assert "redirects are not followed" in delivery.last_error


def test_a_failed_deploy_does_not_page(project) -> None:
    deploy, _ = deploy_record(
        project=project, service="fraud-scorer", environment="production", version="9", status="failed"
    )
    assert services.alerts_evaluate_deploy(deploy=deploy, facts=drifted()) == []


def test_the_beat_sweep_flushes_due_groups_and_sends_their_deliveries(
    project, deploy, django_capture_on_commit_callbacks
):
    """Messages lost (never enqueued): the sweep alone gets the page out, through in-process tasks."""
    import time_machine

    from alerts.tasks import alerts_sweep

    with Receiver() as receiver:
        add_channel(project, "webhook", receiver.url())
        now = timezone.now()
        services.alerts_evaluate_deploy(deploy=deploy, facts=drifted(), now=now)
        with time_machine.travel(now + GROUP_WAIT - timedelta(seconds=1), tick=False):
            assert alerts_sweep() == {"resolved": 0, "groups": 0, "deliveries": 0}
        with time_machine.travel(now + GROUP_WAIT, tick=False), django_capture_on_commit_callbacks(execute=True):
            assert alerts_sweep() == {"resolved": 0, "groups": 1, "deliveries": 0}
        receiver.wait_for(1)
    delivery = Delivery.objects.get()
    assert (delivery.status, len(receiver.requests)) == ("delivered", 1)
