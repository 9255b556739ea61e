"""The deploy page's rollback card and the confirmation page: roles, CSRF, refusals, query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from metrics.drift.models import ColumnSketch, SampleColumn
from rollbacks.models import RollbackEndpoint, RollbackRequest
from rollbacks.services import rollback_request_create
from tests.rollbacks.rollback_world import deploy, endpoint, history
from tracker import crypto

pytestmark = pytest.mark.django_db


def deploy_page(client, project, deploy_id):
    return client.get(f"/{project.slug}/deploys/{deploy_id}/").content.decode()


def confirm_url(project, deploy_id):
    return f"/{project.slug}/deploys/{deploy_id}/rollback/"


def test_a_deployer_sees_the_button_with_the_suggested_target(client, bob, project):
    world, _ = history(project), endpoint(project)
    client.force_login(bob)
    page = deploy_page(client, project, world.v3.pk)
    assert 'id="rollback-button"' in page and "Request rollback to 2.0" in page
    assert f"{confirm_url(project, world.v3.pk)}?target={world.v2.pk}" in page
    assert "healthy" in page and "fraud-gbm:0" in page


def test_a_viewer_sees_the_history_but_no_button(client, vera, project):
    world, _ = history(project), endpoint(project)
    rollback_request_create(deploy=world.v3, reason="latency")
    client.force_login(vera)
    page = deploy_page(client, project, world.v3.pk)
    assert 'id="rollback-button"' not in page and "latency" in page and "requested" in page


def test_a_viewer_cannot_open_or_post_the_confirmation_even_with_a_valid_csrf_token(vera, project):
    world, _ = history(project), endpoint(project)
    client = Client(enforce_csrf_checks=True)
    client.force_login(vera)
    assert client.get(confirm_url(project, world.v3.pk)).status_code == 403
    client.get(f"/{project.slug}/deploys/{world.v3.pk}/")
    token = client.cookies["csrftoken"].value
    response = client.post(confirm_url(project, world.v3.pk), {"target": world.v2.pk, "csrfmiddlewaretoken": token})
    assert response.status_code == 403
    assert not RollbackRequest.objects.exists()


def test_a_post_without_the_csrf_token_is_refused(bob, project):
    world, _ = history(project), endpoint(project)
    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    assert client.post(confirm_url(project, world.v3.pk), {"target": world.v2.pk}).status_code == 403
    assert not RollbackRequest.objects.exists()


def test_a_deployer_confirms_and_the_request_is_made(client, bob, project):
    world, _ = history(project), endpoint(project)
    client.force_login(bob)
    page = client.get(confirm_url(project, world.v3.pk) + f"?target={world.v2.pk}").content.decode()
    assert f'value="{world.v2.pk}"\n              \n              checked' in page or "checked" in page
    response = client.post(confirm_url(project, world.v3.pk), {"target": world.v1.pk, "reason": "errors up"})
    assert response.status_code == 302 and response["Location"].endswith(f"/deploys/{world.v3.pk}/#rollback")
    rollback = RollbackRequest.objects.get()
    assert (rollback.target_id, rollback.requested_by, rollback.reason) == (world.v1.pk, "bob", "errors up")
    page = client.get(response["Location"]).content.decode()
    assert "Rollback to 1.0 requested" in page and 'id="rollback-open"' in page
    card = page[page.index('id="rollback"') :]
    message = card.index('id="rollback-message"')
    assert message < card.index('id="rollback-open"')  # in the card, above the live state: in view after the jump
    assert page.count("Rollback to 1.0 requested") == 1  # not also at the top of the page


def test_a_failed_deploy_offers_no_rollback(client, bob, project):
    world, _ = history(project), endpoint(project)
    failed = deploy(project, "4.0", 1, status="failed")
    client.force_login(bob)
    page = deploy_page(client, project, failed.pk)
    assert "nothing to roll back" in page and 'id="rollback-button"' not in page
    assert world.v3.pk


def test_a_rolled_back_deploy_says_so_once_and_shows_no_empty_history(client, bob, project):
    world, _ = history(project), endpoint(project)
    client.force_login(bob)
    rollback_request_create(deploy=world.v3, target=world.v2, reason="errors up", user=bob)
    deploy(project, "2.0", 0.5)  # the target version goes out again: the rollback completes
    world.v3.refresh_from_db()
    page = deploy_page(client, project, world.v3.pk)
    assert world.v3.status == "rolled_back"
    above_the_event_log = page[: page.index('id="events"')]
    assert above_the_event_log.count("rolled back by") == 1
    assert "No rollback has been requested" not in page


@pytest.mark.parametrize("target", ["", "abc", "999999"])
def test_an_invalid_target_is_answered_on_the_page_and_stores_nothing(client, bob, project, target):
    world, _ = history(project), endpoint(project)
    client.force_login(bob)
    response = client.post(confirm_url(project, world.v3.pk), {"target": target})
    assert response.status_code == 400 and "Choose one of the listed" in response.content.decode()
    assert not RollbackRequest.objects.exists()


def test_the_current_deploy_is_not_offered_as_its_own_target(client, bob, project):
    world, _ = history(project), endpoint(project)
    client.force_login(bob)
    response = client.post(confirm_url(project, world.v3.pk), {"target": world.v3.pk})
    assert response.status_code == 400 and not RollbackRequest.objects.exists()


def test_a_second_request_while_one_is_open_is_refused_with_a_message(client, bob, alice, project):
    world, _ = history(project), endpoint(project)
    rollback_request_create(deploy=world.v3, user=alice)
    client.force_login(bob)
    page = client.get(confirm_url(project, world.v3.pk)).content.decode()
    assert "already" in page and "requested by alice" in page and "Confirm rollback" not in page
    assert 'id="rollback-button"' not in deploy_page(client, project, world.v3.pk)


def test_the_button_waits_for_a_configured_endpoint(client, bob, project):
    world = history(project)
    client.force_login(bob)
    page = deploy_page(client, project, world.v3.pk)
    assert 'id="rollback-button"' not in page and "Rollback requests need the project's rollback endpoint" in page


def test_it_warns_when_the_targets_input_schema_differs(client, bob, project):
    world, _ = history(project), endpoint(project)
    columns = {
        name: SampleColumn.objects.create(service=world.v3.service, role="feature", name=name, kind="numeric")
        for name in ("age", "income", "device")
    }
    for row, names in ((world.v2, ("age", "income")), (world.v3, ("age", "device"))):
        for name in names:
            ColumnSketch.objects.create(deploy=row, column=columns[name], data=b"")
    client.force_login(bob)
    page = client.get(confirm_url(project, world.v3.pk)).content.decode()
    assert "expects inputs no longer sent: income" in page and "the target never saw: device" in page


def deploy_page_queries(client, project, deploy_id) -> int:
    with CaptureQueriesContext(connection) as queries:
        client.get(f"/{project.slug}/deploys/{deploy_id}/")
    return len(queries)


def test_the_rollback_card_query_count_does_not_grow_with_history(client, bob, project):
    world, _ = history(project), endpoint(project)
    client.force_login(bob)
    few = deploy_page_queries(client, project, world.v3.pk)
    for n in range(12):
        deploy(project, f"0.{n}", 100 + n, "healthy")
    for _ in range(4):
        rollback = rollback_request_create(deploy=world.v3)
        RollbackRequest.objects.filter(pk=rollback.pk).update(state="failed")
    assert deploy_page_queries(client, project, world.v3.pk) == few


def endpoint_page(project):
    return f"/{project.slug}/rollbacks/endpoint/"


def test_an_admin_sets_the_endpoint_on_the_settings_page_and_sees_the_secret_once(client, alice, project):
    client.force_login(alice)
    assert "Not configured" in client.get(f"/{project.slug}/settings/").content.decode()
    form = {
        "url": "http://127.0.0.1:9/hook",
        "format": "gitlab",
        "token": "glptt-x",
        "ref": "release",
        "event_type": "rollback.requested",
    }
    page = client.post(endpoint_page(project), form).content.decode()
    stored = RollbackEndpoint.objects.get(project=project)
    secret = crypto.decrypt(stored.secret_encrypted)
    assert 'id="new-rollback-secret"' in page and secret in page
    assert (stored.format, stored.ref, crypto.decrypt(stored.token_encrypted)) == ("gitlab", "release", "glptt-x")
    again = client.post(endpoint_page(project), {**form, "token": ""}).content.decode()
    assert secret not in again and crypto.decrypt(RollbackEndpoint.objects.get().token_encrypted) == "glptt-x"
    assert "http://127.0.0.1:9/hook" in client.get(f"/{project.slug}/settings/").content.decode()


def test_the_endpoint_page_refuses_an_unsafe_url_and_non_admins(client, alice, bob, project, settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = []
    client.force_login(alice)
    response = client.post(
        endpoint_page(project),
        {"url": "https://10.1.2.3/x", "format": "generic", "ref": "main", "event_type": "rollback.requested"},
    )
    assert response.status_code == 400 and "not a public address" in response.content.decode()
    assert not RollbackEndpoint.objects.exists()
    client.force_login(bob)
    assert client.get(endpoint_page(project)).status_code == 403


def test_a_too_long_reason_is_answered_on_the_page_with_the_form_kept(client, bob, project):
    world, _ = history(project), endpoint(project)
    client.force_login(bob)
    response = client.post(confirm_url(project, world.v3.pk), {"target": world.v2.pk, "reason": "x" * 1001})
    page = response.content.decode()
    assert response.status_code == 400 and "The reason is at most 1000 characters." in page
    assert "x" * 1001 in page and "checked" in page
    assert not RollbackRequest.objects.exists()
