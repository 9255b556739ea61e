"""A deployer clicks Promote on a canary and confirms; CI's receiver gets exactly one signed promotion.requested
(verified by the reference Standard Webhooks library), and CI's callback completes it while the page watches.
A viewer sees no button, and a forged POST from the viewer's session is refused."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect
from standardwebhooks import Webhook

from rollbacks.models import RollbackRequest
from rollbacks.services import rollback_endpoint_set
from tests.helpers import client_for
from tests.receiver import Receiver
from tests.rollbacks.rollback_world import canary_pair
from tracker import crypto
from tracker.models import Role
from tracker.services import membership_set

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def canary(project, settings):
    """A champion and a canary beside it judged healthy and final, and a deployer and a viewer of the project."""
    settings.OUTBOUND_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    for name, role in (("dee", Role.DEPLOYER), ("vic", Role.VIEWER)):
        user = User.objects.create_user(name, f"{name}@example.com", f"{name}-password")
        membership_set(project=project, user=user, role=role)
    return canary_pair(project, "healthy")


def test_a_deployer_clicks_promote_and_ci_gets_exactly_one_signed_request_then_completes_it(
    page, live_server, login, project, canary
):
    deploy_url = f"{live_server.url}/{project.slug}/deploys/{canary.challenger.pk}/"
    with Receiver() as receiver:
        endpoint, _ = rollback_endpoint_set(project=project, url=receiver.url("/release"), format="generic")
        login(page, "dee", "dee-password")
        page.goto(deploy_url)
        expect(page.locator("#promotion-gate")).to_contain_text("promote")
        page.fill("#promotion-reason", "conversion up 2 % at equal latency")
        dialogs = []
        page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
        page.click("#promote-button")
        expect(page).to_have_url(re.compile(rf"/deploys/{canary.challenger.pk}/#promotion$"))
        expect(page.locator(".messages")).to_contain_text("Promotion of 4.1 requested")
        expect(page.locator("#promotion-open")).to_be_visible()
        receiver.wait_for(1, timeout=20)
        time.sleep(1.0)  # would a second request arrive?
    assert dialogs and dialogs[0].startswith("Promote 4.1 over 4.0?")
    assert len(receiver.requests) == 1
    [sent] = receiver.requests
    promotion = RollbackRequest.objects.get(deploy=canary.challenger)
    secret = crypto.decrypt(endpoint.secret_encrypted)
    body = Webhook(secret).verify(sent.body, sent.headers)
    assert sent.headers["webhook-id"] == str(promotion.pk) == body["promotion_id"]
    assert body["type"] == "promotion.requested" and body["requested_by"] == "dee"
    assert (body["deploy"]["id"], body["baseline"]["id"]) == (canary.challenger.pk, canary.champion.pk)
    assert body["reason"] == "conversion up 2 % at equal latency"
    assert json.loads(sent.body) == body

    # CI reports through the callback; the open panel follows without a reload (static/js/rollback.js), fetching
    # the cards alone rather than the whole page.
    fetched = []
    page.on("request", lambda request: fetched.append(request.url))
    ci = client_for(body["callback"]["token"])
    assert body["callback"]["url"].endswith(f"/api/v1/promotions/{promotion.pk}/status")
    assert ci.post(f"/api/v1/promotions/{promotion.pk}/status", {"status": "running"}, format="json").status_code == 200
    expect(page.locator("#promotion-open")).to_contain_text("running", timeout=15_000)
    assert (
        ci.post(f"/api/v1/promotions/{promotion.pk}/status", {"status": "succeeded"}, format="json").json()[
            "promotion"
        ]["state"]
        == "succeeded"
    )
    expect(page.locator(f"#promotion-{promotion.pk}")).to_contain_text("succeeded", timeout=15_000)
    expect(page.locator("#promotion-open")).to_have_count(0)
    expect(page.locator("#promotion")).to_have_attribute("data-live", "0")
    assert f"{deploy_url}release-cards/" in fetched and deploy_url not in fetched, fetched
    page.screenshot(path="var/screenshot-promotion.png", full_page=True)
    assert RollbackRequest.objects.get(pk=promotion.pk).state == "succeeded"


def test_a_viewer_sees_no_promote_button_and_a_forged_post_is_refused(page, live_server, login, project, canary):
    rollback_endpoint_set(project=project, url="http://127.0.0.1:9/release", format="generic")
    login(page, "vic", "vic-password")
    page.goto(f"{live_server.url}/{project.slug}/deploys/{canary.challenger.pk}/")
    expect(page.locator("#promotion h2")).to_have_text("Promotion")
    expect(page.locator("#promote-button")).to_have_count(0)
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"{live_server.url}/{project.slug}/deploys/{canary.challenger.pk}/promote/",
        form={"csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{live_server.url}/{project.slug}/deploys/{canary.challenger.pk}/"},
    )
    assert response.status == 403
    assert not RollbackRequest.objects.exists()
