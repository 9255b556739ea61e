"""The production shape: a deploy posted over HTTP is processed by a real Celery worker process via Redis."""

from __future__ import annotations

import json

import pytest

from deployments.models import Deploy
from deployments.tasks import deploys_sweep
from tests.helpers import wait_until

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_a_real_worker_stores_what_changed_for_a_posted_deploy(api, project, celery_worker_process):
    base = {"service": "fraud-scorer", "environment": "production", "params": {"depth": 6}}
    first = api.post(
        "/api/v1/deploys",
        data=json.dumps({**base, "version": "1.0", "finished_at": "2026-11-27T10:00:00Z"}),
        content_type="application/json",
    )
    second = api.post(
        "/api/v1/deploys",
        data=json.dumps({**base, "version": "1.1", "params": {"depth": 8}}),
        content_type="application/json",
    )
    assert first.status_code == second.status_code == 201
    deploy = wait_until(lambda: Deploy.objects.filter(pk=second.json()["id"]).exclude(processed_at=None).first())
    assert deploy.changes["changed_fields"] == ["version"]
    assert deploy.changes["params"]["changed"] == {"depth": {"before": 6, "after": 8}}
    assert deploy.events.filter(kind="processed").count() == 1


def test_the_sweep_recovers_a_deploy_whose_message_was_lost(project, celery_worker_process):
    from datetime import timedelta

    from django.utils import timezone

    from deployments.services import deploy_record

    # Recorded outside any request and never enqueued: as if the broker had lost the message.
    deploy, _ = deploy_record(project=project, service="svc", environment="production", version="2.0")
    Deploy.objects.filter(pk=deploy.pk).update(processed_at=None, updated_at=timezone.now() - timedelta(minutes=5))
    assert deploys_sweep() >= 1
    wait_until(lambda: Deploy.objects.filter(pk=deploy.pk).exclude(processed_at=None).exists())
