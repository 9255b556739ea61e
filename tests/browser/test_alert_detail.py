"""On-call in Chromium: an alert opens on its own page (evidence, deliveries and their attempts, the silence that
matches, what happened); a rollback whose delivery to CI fails shows the error and the next retry where the
button was, without scrolling to the event log."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from playwright.sync_api import expect

from alerts.models import Delivery, DeliveryAttempt
from alerts.rules import ColumnFact, DeployFacts
from alerts.services import alerts_evaluate_deploy, channel_create, silence_create
from deployments.services import deploy_record
from rollbacks.models import RollbackRequest
from rollbacks.services import rollback_callback_apply, rollback_endpoint_set
from tests.receiver import Receiver, Reply
from tests.rollbacks.rollback_world import history

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def alert(project):
    deploy, _ = deploy_record(
        project=project, service="svc", environment="production", version="1.4", finished_at=timezone.now()
    )
    columns = tuple(ColumnFact(f"f{i}", "feature", "drifted", 2.0) for i in range(3))
    [alert] = alerts_evaluate_deploy(deploy=deploy, facts=DeployFacts(columns, has_drift_report=True))
    channel = channel_create(project=project, name="pager-hook", kind="webhook", url="https://93.184.215.14/hook")[0]
    type(channel).objects.filter(pk=channel.pk).update(consecutive_failures=4)
    now = timezone.now()
    delivery = Delivery.objects.create(
        project=project,
        channel=channel,
        group=alert.group,
        alert_ids=[alert.pk],
        reason="firing",
        event_action="trigger",
        attempts=2,
        next_attempt_at=now + timedelta(minutes=2),
        last_error="HTTP 503 from the receiver",
    )
    DeliveryAttempt.objects.create(
        delivery=delivery, number=1, at=now, status_code=503, error="HTTP 503 from the receiver"
    )
    DeliveryAttempt.objects.create(delivery=delivery, number=2, at=now, error="connection refused", retry_at=now)
    silence_create(project=project, matchers=["service=svc"], ends_at=now + timedelta(hours=1), comment="maintenance")
    return alert


def test_an_alert_opens_with_its_deliveries_attempts_and_matching_silence(page, live_server, login, alert):
    login(page, "vera", "vera-password")
    page.goto(f"{live_server.url}/{alert.project.slug}/alerts/")
    row = page.locator(f"#alert-{alert.pk}")
    expect(row.locator(".badge.silenced")).to_have_text("Silenced")
    row.get_by_role("link", name=alert.title).click()

    expect(page).to_have_url(re.compile(rf"/alerts/{alert.pk}/$"))
    expect(page.locator("h1")).to_have_text(alert.title)
    expect(page.locator("#alert-silenced")).to_be_visible()
    expect(page.locator("#alert-evidence dt").first).to_be_visible()
    delivery = page.locator("tr.delivery-row")
    expect(delivery).to_have_count(1)
    expect(delivery.locator("li.attempt")).to_have_count(2)
    expect(delivery.locator("li.attempt").nth(0)).to_contain_text("HTTP 503")
    expect(delivery.locator("li.attempt").nth(1)).to_contain_text("connection refused")
    expect(delivery.locator(".channel-failing")).to_have_text("failing: 4 deliveries in a row")
    expect(page.locator("#alert-silences")).to_contain_text("service=svc")
    expect(page.locator("#alert-timeline li").first).to_contain_text("Fired")
    # People never see the fingerprint (a hash for machines).
    assert alert.fingerprint not in page.content()
    assert alert.fingerprint[:10] not in page.locator("body").inner_text()


def test_a_failing_rollback_delivery_shows_its_error_and_next_retry_in_the_panel(
    page, live_server, login, project, settings
):
    settings.OUTBOUND_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    settings.ROLLBACK_RETRY_BASE_SECONDS = 600
    world = history(project)
    with Receiver([Reply(503, b"CI is down")]) as receiver:
        rollback_endpoint_set(project=project, url=receiver.url("/rollback"), format="generic")
        login(page, "bob", "bob-password")
        page.goto(f"{live_server.url}/{project.slug}/deploys/{world.v3.pk}/")
        page.click("#rollback-button")
        page.click("#confirm-rollback")
        expect(page).to_have_url(re.compile(rf"/deploys/{world.v3.pk}/#rollback$"))
        receiver.wait_for(1)
    rollback = RollbackRequest.objects.get(deploy=world.v3)
    assert rollback.dispatch_tries == 1 and rollback.dispatch_due_at is not None
    attempts = page.locator("#rollback-attempts li.attempt")
    expect(attempts).to_have_count(1)
    expect(attempts.first).to_contain_text("HTTP 503")
    expect(attempts.first).to_be_in_viewport()
    expect(page.locator("#rollback-next-retry")).to_contain_text(
        timezone.localtime(rollback.dispatch_due_at).strftime("%H:%M")
    )
    expect(page.locator("#rollback-next-retry")).to_be_in_viewport()
    expect(page.locator("#rollback-open .badge")).to_have_text("Requested")
    # CI answers: the open panel follows the request's state without a reload.
    with transaction.atomic():
        rollback_callback_apply(rollback=rollback, status="accepted")
    expect(page.locator("#rollback-open .badge")).to_have_text("Accepted", timeout=15_000)


def test_a_failed_deploy_offers_no_rollback(page, live_server, login, project):
    world = history(project)
    failed, _ = deploy_record(
        project=project, service="fraud-scorer", environment="production", version="4.0", status="failed"
    )
    assert world.v3.pk != failed.pk
    login(page, "bob", "bob-password")
    page.goto(f"{live_server.url}/{project.slug}/deploys/{failed.pk}/")
    expect(page.locator("#rollback")).to_contain_text("nothing to roll back")
    expect(page.locator("#rollback-button")).to_have_count(0)
