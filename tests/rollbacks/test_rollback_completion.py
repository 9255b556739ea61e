"""A later succeeded deploy of the target completes the request; the timeline and the gate show it."""

from __future__ import annotations

import pytest

from deployments.models import Deploy
from rollbacks.models import RollbackRequest
from rollbacks.services import rollback_request_create
from tests.rollbacks.rollback_world import deploy, endpoint, history

pytestmark = pytest.mark.django_db


def post_deploy(api, version, commit_sha, **extra):
    body = {
        "service": "fraud-scorer",
        "environment": "production",
        "version": version,
        "commit_sha": commit_sha,
        "status": "succeeded",
        **extra,
    }
    response = api.post("/api/v1/deploys", body, format="json")
    assert response.status_code == 201, response.content
    return Deploy.objects.get(pk=response.json()["id"])


def test_posting_the_target_version_completes_the_request_and_marks_the_deploys_in_between(api, project):
    world, _ = history(project), endpoint(project)
    rollback = rollback_request_create(deploy=world.v3, target=world.v1)
    restored = post_deploy(api, "1.0", world.v1.commit_sha)
    row = RollbackRequest.objects.get(pk=rollback.pk)
    assert row.state == "succeeded" and row.completed_by_id == restored.pk and row.finished_at is not None
    statuses = dict(Deploy.objects.filter(pk__in=[world.v2.pk, world.v3.pk]).values_list("version", "status"))
    assert statuses == {"2.0": "rolled_back", "3.0": "rolled_back"}
    assert restored.events.filter(kind="rollback.completed").exists()
    assert world.v3.events.filter(kind="rollback.completed").exists()


def test_a_rebuild_of_the_target_commit_under_a_new_version_completes_it_when_processed(
    api, project, django_capture_on_commit_callbacks
):
    world, _ = history(project), endpoint(project)
    rollback = rollback_request_create(deploy=world.v3, target=world.v2)
    # Not a detected rollback (new version, no model): the deploy task's signal completes it.
    with django_capture_on_commit_callbacks(execute=True):
        post_deploy(api, "2.0-rebuild", world.v2.commit_sha)
    assert RollbackRequest.objects.get(pk=rollback.pk).state == "succeeded"


def test_an_unrelated_deploy_or_another_stream_leaves_the_request_open(api, project):
    world, _ = history(project), endpoint(project)
    rollback = rollback_request_create(deploy=world.v3, target=world.v2)
    post_deploy(api, "4.0", "ab" * 20)
    post_deploy(api, "2.0", world.v2.commit_sha, environment="staging")
    assert RollbackRequest.objects.get(pk=rollback.pk).state == "requested"


def test_a_failed_deploy_of_the_target_does_not_complete_it(api, project):
    world, _ = history(project), endpoint(project)
    rollback = rollback_request_create(deploy=world.v3, target=world.v2)
    post_deploy(api, "2.0", world.v2.commit_sha, status="failed")
    assert RollbackRequest.objects.get(pk=rollback.pk).state == "requested"


def test_the_timeline_shows_the_rollback_deploy_linked_to_its_request(api, client, alice, project):
    world, _ = history(project), endpoint(project)
    rollback = rollback_request_create(deploy=world.v3, target=world.v2)
    restored = post_deploy(api, "2.0", world.v2.commit_sha)
    client.force_login(alice)
    page = client.get(f"/{project.slug}/").content.decode()
    link = f"/{project.slug}/deploys/{world.v3.pk}/#rollback-{rollback.pk}"
    assert link in page and "↩ rollback request" in page and "rollback succeeded" in page
    assert Deploy.objects.get(pk=restored.pk).is_rollback
    own_page = client.get(f"/{project.slug}/deploys/{restored.pk}/").content.decode()
    assert 'id="rollback-completes"' in own_page and f"#rollback-{rollback.pk}" in own_page


def test_the_gate_answers_rollback_for_the_rollback_deploy(api, project):
    world, _ = history(project), endpoint(project)
    rollback_request_create(deploy=world.v3, target=world.v2)
    restored = post_deploy(api, "2.0", world.v2.commit_sha)
    verdict = api.get(f"/api/v1/deploys/{restored.pk}/verdict").json()
    assert verdict["verdict"] == "rollback"


def test_a_completed_request_frees_the_stream_for_the_next_one(api, project):
    world, _ = history(project), endpoint(project)
    rollback_request_create(deploy=world.v3, target=world.v2)
    post_deploy(api, "2.0", world.v2.commit_sha)
    bad = deploy(project, "5.0", 0.1, external_id="five")
    assert rollback_request_create(deploy=bad).state == "requested"


def test_the_sweep_completes_a_request_whose_completion_message_was_lost(
    api, project, django_capture_on_commit_callbacks
):
    from deployments.services import deploy_processed_mark
    from rollbacks.tasks import rollbacks_sweep

    world, _ = history(project), endpoint(project)
    rollback = rollback_request_create(deploy=world.v3, target=world.v2)
    # A rebuild of the target commit, processed, but the on-commit completion check never runs.
    with django_capture_on_commit_callbacks(execute=False):
        rebuilt = post_deploy(api, "2.0-rebuild", world.v2.commit_sha)
        deploy_processed_mark(deploy_id=rebuilt.pk)
    assert RollbackRequest.objects.get(pk=rollback.pk).state == "requested"
    assert rollbacks_sweep()["completed"] == 1
    row = RollbackRequest.objects.get(pk=rollback.pk)
    assert (row.state, row.completed_by_id) == ("succeeded", rebuilt.pk)
    assert rollbacks_sweep()["completed"] == 0


def test_the_sweep_completes_before_it_expires(api, project, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from deployments.services import deploy_processed_mark
    from rollbacks.tasks import rollbacks_sweep

    world, _ = history(project), endpoint(project)
    rollback = rollback_request_create(deploy=world.v3, target=world.v2)
    with django_capture_on_commit_callbacks(execute=False):
        rebuilt = post_deploy(api, "2.0-rebuild", world.v2.commit_sha)
        deploy_processed_mark(deploy_id=rebuilt.pk)
    RollbackRequest.objects.filter(pk=rollback.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert rollbacks_sweep()["completed"] == 1
    assert RollbackRequest.objects.get(pk=rollback.pk).state == "succeeded"


def test_the_sweep_does_not_complete_with_an_unrelated_or_earlier_deploy(
    api, project, django_capture_on_commit_callbacks
):
    from deployments.services import deploy_processed_mark
    from rollbacks.tasks import rollbacks_sweep

    world, _ = history(project), endpoint(project)
    rollback = rollback_request_create(deploy=world.v3, target=world.v2)
    with django_capture_on_commit_callbacks(execute=False):
        unrelated = post_deploy(api, "4.0", "ab" * 20)
        deploy_processed_mark(deploy_id=unrelated.pk)
    # v2 itself (the target, processed before the request) never completes it.
    assert rollbacks_sweep()["completed"] == 0
    assert RollbackRequest.objects.get(pk=rollback.pk).state == "requested"
