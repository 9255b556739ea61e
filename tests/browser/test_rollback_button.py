"""A deployer clicks rollback on a degraded demo deploy and confirms; CI's receiver gets one signed request.
A viewer sees no button, and a forged POST from the viewer's session is refused."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from deployments.models import Deploy
from metrics.impact.models import ImpactReport
from rollbacks.models import RollbackRequest
from rollbacks.services import rollback_endpoint_set
from tests.demo_snapshot import seeded_demo
from tests.receiver import Receiver
from tracker import crypto, signing
from tracker.models import Project, Role
from tracker.services import membership_set

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo(db, settings):
    settings.OUTBOUND_ALLOW_HTTP = True
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    seeded_demo()
    project = Project.objects.get(slug="demo")
    for name, role in (("dee", Role.DEPLOYER), ("vic", Role.VIEWER)):
        user = User.objects.create_user(name, f"{name}@example.com", f"{name}-password")
        membership_set(project=project, user=user, role=role)
    return project


def degraded_deploy(project):
    """The latest fraud-scorer staging deploy, judged degraded (as the analysis would have)."""
    current = (
        Deploy.objects.filter(
            project=project,
            service__name="fraud-scorer",
            environment__name="staging",
            status="succeeded",
            baseline__isnull=False,
        )
        .order_by("-deployed_at")
        .first()
    )
    ImpactReport.objects.update_or_create(deploy=current, defaults={"verdict": "degraded", "final": True})
    return current


def test_a_deployer_clicks_rollback_and_ci_gets_exactly_one_signed_request(page, live_server, login, demo):
    current = degraded_deploy(demo)
    target = current.baseline
    with Receiver() as receiver:
        endpoint, _ = rollback_endpoint_set(project=demo, url=receiver.url("/rollback"), format="generic")
        login(page, "dee", "dee-password")
        page.goto(f"{live_server.url}/demo/deploys/{current.pk}/")
        page.click("#rollback-button")
        expect(page.locator("h1")).to_contain_text("Roll back fraud-scorer in staging")
        page.check(f"input[name=target][value='{target.pk}']")
        page.fill("textarea[name=reason]", "approval rate fell after this release")
        page.click("#confirm-rollback")
        expect(page).to_have_url(re.compile(rf"/demo/deploys/{current.pk}/#rollback$"))
        message = page.locator("#rollback #rollback-message")
        expect(message).to_contain_text(f"Rollback to {target.version} requested")
        expect(message).to_be_in_viewport()  # beside the request's live state, where the button was
        expect(page.locator("#rollback-open")).to_be_visible()
        receiver.wait_for(1, timeout=20)
        time.sleep(1.0)  # would a second request arrive?
        page.screenshot(path="var/screenshot-rollback.png", full_page=True)
    assert len(receiver.requests) == 1
    [sent] = receiver.requests
    rollback = RollbackRequest.objects.get(deploy=current)
    secret = crypto.decrypt(endpoint.secret_encrypted)
    assert signing.verify([secret], sent.headers, sent.body) == str(rollback.pk)
    body = json.loads(sent.body)
    assert (body["current"]["id"], body["current"]["version"]) == (current.pk, current.version)
    assert (body["target"]["id"], body["target"]["version"]) == (target.pk, target.version)
    assert body["target"]["commit_sha"] == target.commit_sha and body["requested_by"] == "dee"
    assert body["reason"] == "approval rate fell after this release"
    assert rollback.state in {"requested", "dispatched"}


def test_a_viewer_sees_no_button_and_a_forged_post_is_refused(page, live_server, login, demo):
    current = degraded_deploy(demo)
    login(page, "vic", "vic-password")
    page.goto(f"{live_server.url}/demo/deploys/{current.pk}/")
    expect(page.locator("#rollback h2")).to_have_text("Rollback")
    expect(page.locator("#rollback-button")).to_have_count(0)
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    url = f"{live_server.url}/demo/deploys/{current.pk}/rollback/"
    response = page.request.post(
        url,
        form={"target": str(current.baseline_id), "csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{live_server.url}/demo/deploys/{current.pk}/"},
    )
    assert response.status == 403
    assert not RollbackRequest.objects.filter(deploy=current).exists()


@pytest.mark.services
def test_click_dispatch_callback_and_completion_with_the_real_worker(
    celery_worker_process, page, live_server, login, demo
):
    from deployments.services import deploy_record
    from tests.helpers import client_for, wait_until

    current = degraded_deploy(demo)
    target = current.baseline
    with Receiver() as receiver:
        rollback_endpoint_set(project=demo, url=receiver.url("/rollback"), format="generic")
        login(page, "dee", "dee-password")
        page.goto(f"{live_server.url}/demo/deploys/{current.pk}/")
        page.click("#rollback-button")
        page.check(f"input[name=target][value='{target.pk}']")
        page.click("#confirm-rollback")
        expect(page.locator("#rollback-open")).to_be_visible()
        [sent] = receiver.wait_for(1, timeout=30)  # sent by the worker process, not by the web request
    body = json.loads(sent.body)
    rollback_id = body["rollback_id"]
    wait_until(lambda: RollbackRequest.objects.get(pk=rollback_id).state == "dispatched", timeout=30)
    ci = client_for(body["callback"]["token"])
    for status in ("accepted", "running"):
        response = ci.post(f"/api/v1/rollbacks/{rollback_id}/status", {"status": status}, format="json")
        assert response.status_code == 200
    deploy_record(
        project=demo,
        service="fraud-scorer",
        environment="staging",
        version=target.version,
        commit_sha=target.commit_sha,
        model_version=target.model_version,
    )
    page.reload()
    expect(page.locator(f"#rollback-{rollback_id}")).to_contain_text("Succeeded")
    expect(page.locator(f"#rollback-{rollback_id}")).to_contain_text(f"by deploy {target.version}")
    assert len(receiver.requests) == 1
