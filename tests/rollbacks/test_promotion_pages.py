"""The deploy page's Promote button beside Rollback: roles, CSRF, confirmation, refusals, the live panel."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from rollbacks.models import RollbackRequest
from rollbacks.services import promotion_request_create
from tests.rollbacks.rollback_world import canary_pair, deploy, endpoint
from tracker.models import AuditLog

pytestmark = pytest.mark.django_db


def deploy_page(client, project, deploy_id):
    return client.get(f"/{project.slug}/deploys/{deploy_id}/").content.decode()


def promote_url(project, deploy_id):
    return f"/{project.slug}/deploys/{deploy_id}/promote/"


def test_a_deployer_sees_the_promote_button_with_a_confirmation_beside_rollback(client, bob, project):
    pair, _ = canary_pair(project, "healthy"), endpoint(project)
    client.force_login(bob)
    page = deploy_page(client, project, pair.challenger.pk)
    assert 'id="promotion"' in page and 'id="promote-button"' in page and "Promote 4.1 over 4.0" in page
    assert f'action="{promote_url(project, pair.challenger.pk)}"' in page
    assert 'data-confirm="Promote 4.1 over 4.0?' in page and "csrfmiddlewaretoken" in page
    assert 'id="promotion-gate"' in page and "verdict-promote" in page
    assert page.index('id="rollback"') < page.index('id="promotion"')


def test_a_deployer_clicks_promote_and_the_request_is_made_and_audited(client, bob, project):
    pair, _ = canary_pair(project), endpoint(project)
    client.force_login(bob)
    response = client.post(promote_url(project, pair.challenger.pk), {"reason": "conversion up"}, follow=True)
    assert response.redirect_chain[-1][0].endswith(f"/deploys/{pair.challenger.pk}/#promotion")
    promotion = RollbackRequest.objects.get(kind="promotion")
    assert (promotion.deploy_id, promotion.target_id) == (pair.challenger.pk, pair.champion.pk)
    assert promotion.requested_by == "bob" and promotion.reason == "conversion up"
    assert AuditLog.objects.filter(action="promotion.requested", actor_user=bob, target_id=str(promotion.pk)).exists()
    page = response.content.decode()
    assert "Promotion of 4.1 requested" in page and 'id="promotion-open"' in page
    assert 'id="promotion" data-live="1"' in page and 'id="promote-button"' not in page


def test_a_viewer_sees_no_button_and_a_forged_post_with_a_valid_csrf_token_is_refused(vera, project):
    pair, _ = canary_pair(project), endpoint(project)
    client = Client(enforce_csrf_checks=True)
    client.force_login(vera)
    page = client.get(f"/{project.slug}/deploys/{pair.challenger.pk}/").content.decode()
    assert 'id="promotion"' in page and 'id="promote-button"' not in page
    token = client.cookies["csrftoken"].value
    assert client.post(promote_url(project, pair.challenger.pk), {"csrfmiddlewaretoken": token}).status_code == 403
    assert not RollbackRequest.objects.exists()


def test_a_post_without_the_csrf_token_is_refused(bob, project):
    pair, _ = canary_pair(project), endpoint(project)
    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)
    assert client.post(promote_url(project, pair.challenger.pk)).status_code == 403
    assert not RollbackRequest.objects.exists()


def test_the_promote_route_takes_only_a_post(client, bob, project):
    pair = canary_pair(project)
    client.force_login(bob)
    assert client.get(promote_url(project, pair.challenger.pk)).status_code == 405


def test_a_deploy_with_all_the_traffic_has_no_promotion_card(client, bob, project):
    endpoint(project)
    deploy(project, "1.0", 5, "healthy")
    whole = deploy(project, "1.1", 1, "healthy", strategy="rolling", traffic_percent=100)
    client.force_login(bob)
    assert 'id="promotion"' not in deploy_page(client, project, whole.pk)


def test_a_refused_promotion_is_answered_with_a_message_and_stores_nothing(client, bob, project):
    endpoint(project)
    whole = deploy(project, "1.1", 1, "healthy")
    client.force_login(bob)
    response = client.post(promote_url(project, whole.pk), follow=True)
    assert "can be promoted" in response.content.decode()
    assert not RollbackRequest.objects.exists()


def test_a_second_promotion_while_one_is_open_is_refused_with_a_message(client, bob, alice, project):
    pair, _ = canary_pair(project), endpoint(project)
    promotion_request_create(deploy=pair.challenger, user=alice)
    client.force_login(bob)
    response = client.post(promote_url(project, pair.challenger.pk), follow=True)
    assert "already open" in response.content.decode() and "alice" in response.content.decode()
    assert RollbackRequest.objects.count() == 1


def test_the_button_waits_for_a_configured_endpoint(client, bob, project):
    pair = canary_pair(project)
    client.force_login(bob)
    page = deploy_page(client, project, pair.challenger.pk)
    assert 'id="promote-button"' not in page and "need the project's rollback endpoint" in page


def test_a_too_long_reason_is_refused_with_a_message(client, bob, project):
    pair, _ = canary_pair(project), endpoint(project)
    client.force_login(bob)
    response = client.post(promote_url(project, pair.challenger.pk), {"reason": "r" * 1001}, follow=True)
    assert "at most 1000 characters" in response.content.decode()
    assert not RollbackRequest.objects.exists()


def deploy_page_queries(client, project, deploy_id) -> int:
    with CaptureQueriesContext(connection) as queries:
        client.get(f"/{project.slug}/deploys/{deploy_id}/")
    return len(queries)


def test_the_promotion_card_query_count_does_not_grow_with_history(client, bob, project):
    pair, _ = canary_pair(project), endpoint(project)
    client.force_login(bob)
    promotion = promotion_request_create(deploy=pair.challenger)
    RollbackRequest.objects.filter(pk=promotion.pk).update(state="failed")
    few = deploy_page_queries(client, project, pair.challenger.pk)
    for _ in range(4):
        promotion = promotion_request_create(deploy=pair.challenger)
        RollbackRequest.objects.filter(pk=promotion.pk).update(state="failed")
    page = deploy_page(client, project, pair.challenger.pk)
    assert page.count('<tr id="promotion-') == 5
    assert deploy_page_queries(client, project, pair.challenger.pk) == few


def test_a_promoted_deploy_says_so_instead_of_offering_the_button_again(client, bob, project):
    pair, _ = canary_pair(project), endpoint(project)
    promotion = promotion_request_create(deploy=pair.challenger)
    RollbackRequest.objects.filter(pk=promotion.pk).update(state="succeeded")
    client.force_login(bob)
    page = deploy_page(client, project, pair.challenger.pk)
    assert 'id="promote-button"' not in page and "This deploy has been promoted" in page


def test_the_live_refresh_gets_the_release_cards_alone_scoped_to_the_members_project(
    client, bob, vera, charlie, project, other_project
):
    pair, _ = canary_pair(project), endpoint(project)
    promotion_request_create(deploy=pair.challenger, user=bob)
    url = f"/{project.slug}/deploys/{pair.challenger.pk}/release-cards/"
    client.force_login(vera)  # a viewer watches too; she sees no buttons
    response = client.get(url)
    cards = response.content.decode()
    assert response.status_code == 200 and cards.lstrip().startswith('<section class="card" id="rollback"')
    assert 'id="promotion" data-live="1"' in cards and 'id="promotion-open"' in cards
    assert f'data-live-url="{url}"' in cards and "<html" not in cards and "plotly" not in cards.lower()
    assert 'id="promote-button"' not in cards
    assert f'data-live-url="{url}"' in deploy_page(client, project, pair.challenger.pk)  # what rollback.js fetches
    client.force_login(charlie)  # not a member: the project does not exist for him
    assert client.get(url).status_code == 404
    assert client.get(f"/{other_project.slug}/deploys/{pair.challenger.pk}/release-cards/").status_code == 404


def test_the_timeline_row_of_a_promoted_deploy_carries_its_promotion_badge(client, bob, project):
    pair, _ = canary_pair(project), endpoint(project)
    promotion = promotion_request_create(deploy=pair.challenger, user=bob)
    client.force_login(bob)
    timeline = client.get(f"/{project.slug}/").content.decode()
    link = f'href="/{project.slug}/deploys/{pair.challenger.pk}/#promotion-{promotion.pk}"'
    assert timeline.count(link) == 1 and "promotion requested" in timeline
    assert "rollback requested" not in timeline  # a promotion is not shown as a rollback
