"""deploy_record: one typed write for the deploy API and the native webhooks."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

import pytest

from deployments.api import DeployCreateApi, deploy_event
from deployments.models import Deploy
from deployments.services import EVENT_FIELDS, deploy_record
from tests.deployments.test_deploy_api import EVENT as API_EVENT

pytestmark = pytest.mark.django_db

# Every field the deploy API accepts.
EVENT = {
    **API_EVENT,
    "started_at": "2026-11-28T09:30:00Z",
    "finished_at": "2026-11-28T09:40:00Z",
    "environment_url": "https://fraud.example.com",
}


def test_its_keywords_are_deploy_columns_and_take_every_field_the_api_accepts() -> None:
    keywords = set(inspect.signature(deploy_record).parameters) - {"project", "token", "source"}
    columns = {field.name for field in Deploy._meta.get_fields()}
    assert keywords - {"service", "environment", "version"} == EVENT_FIELDS and columns >= EVENT_FIELDS
    serializer = DeployCreateApi.InputSerializer(data=EVENT)
    assert serializer.is_valid(), serializer.errors
    assert set(deploy_event(serializer.validated_data)) == keywords


def test_an_event_from_the_api_lands_on_the_columns(project) -> None:
    serializer = DeployCreateApi.InputSerializer(data=EVENT)
    assert serializer.is_valid(), serializer.errors
    deploy, created = deploy_record(project=project, **deploy_event(serializer.validated_data))
    deploy.refresh_from_db()
    assert created and (deploy.model_name, deploy.model_run_id, deploy.model_digest) == ("fraud-gbm", "abc", "sha256:1")
    assert deploy.commit_timestamp == datetime(2026, 11, 28, 9, 12, tzinfo=UTC) and deploy.params == {"max_depth": 6}


def test_an_update_changes_what_it_sends_and_keeps_what_it_does_not(project) -> None:
    stream = {"project": project, "service": "svc", "environment": "production", "version": "1"}
    first, _ = deploy_record(**stream, external_id="run-1", status="in_progress", ref="main", author="dana")
    again, created = deploy_record(**stream, external_id="run-1", status="succeeded", author="")
    again.refresh_from_db()
    assert not created and again.pk == first.pk
    assert (again.status, again.ref, again.author) == ("succeeded", "main", "")


def test_a_new_deploy_without_a_status_is_succeeded(project) -> None:
    deploy, _ = deploy_record(project=project, service="svc", environment="production", version="1")
    assert deploy.status == "succeeded" and deploy.external_id is None
