"""On-call in Chromium: the demo's alerts page, acknowledge, silence, and a channel's test button."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from alerts.models import Alert, AlertRule, Delivery, Silence
from tests.demo_snapshot import seeded_demo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(db):
    seeded_demo()


def test_on_call_acknowledges_an_alert_and_follows_it_to_the_suspect_deploy(page, live_server, login, demo):
    login(page, "demo", "demo")
    page.click("nav.project-nav >> text=Alerts")
    expect(page.locator("h1")).to_have_text("Alerts")
    firing = page.locator("#open-alerts tr.status-firing", has_text="Dataset drift").first
    expect(firing).to_contain_text("went out")
    alert_id = int(firing.get_attribute("id").removeprefix("alert-"))
    firing.locator("button", has_text="Acknowledge").click()
    expect(page.locator(".message.success")).to_contain_text("acknowledged")
    expect(page.locator(f"#alert-{alert_id} .state-acknowledged")).to_be_visible()
    assert Alert.objects.get(pk=alert_id).acknowledged_by.username == "demo"

    page.locator(f'#alert-{alert_id} td a[href*="/deploys/"]').first.click()
    expect(page).to_have_url(re.compile(r"/demo/deploys/\d+/$"))
    expect(page.locator("#alerts")).to_contain_text("Dataset drift")
    expect(page.locator(".head-badges .alert-count")).to_contain_text("open alert")


def test_on_call_silences_an_alert_from_its_row(page, live_server, login, demo):
    login(page, "demo", "demo")
    page.goto(f"{live_server.url}/demo/alerts/")
    row = page.locator("#open-alerts tr.alert-row").first
    row.locator("summary", has_text="Silence").click()
    row.locator("select[name=hours]").select_option("1")
    row.locator("button", has_text="Silence").click()
    expect(page.locator(".message.success")).to_contain_text("Silenced for 1 h")
    expect(page.locator("#silences li").first).to_contain_text("service=")
    assert Silence.objects.count() == 1


def test_an_admin_sees_the_channel_and_queues_a_test_notification(page, live_server, login, demo, settings):
    login(page, "demo", "demo")
    page.goto(f"{live_server.url}/demo/alerts/settings/")
    channel = page.locator("tr.channel-row").first
    expect(channel).to_contain_text("demo receiver (webhook)")
    expect(channel).to_contain_text(f"{settings.SITE_URL}/…")
    channel.locator("button", has_text="Send test").click()
    expect(page.locator(".message.success")).to_contain_text("Test notification queued")
    assert Delivery.objects.filter(reason="test").count() == 1
    expect(page.locator("#rules tr")).to_have_count(7)  # the header and the six default rules (unfair among them)

    share = page.locator("#rules tr", has_text="drift-share")
    share.locator("input[name=threshold]").fill("0.4")
    share.locator("button", has_text="Save").click()
    expect(page.locator(".message.success")).to_contain_text("Rule drift-share saved")
    assert AlertRule.objects.get(project__slug="demo", key="drift-share").threshold == 0.4
