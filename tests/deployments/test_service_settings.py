"""GET, PATCH /api/v1/services/{service}/settings: every per-service analysis setting in one place."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments.models import Deploy, ServiceSettings
from deployments.services import deploy_record
from tests.helpers import client_for, error_code
from tracker.models import AuditLog

URL = "/api/v1/services/fraud-scorer/settings"


@pytest.fixture
def deploy(project) -> Deploy:
    deploy, _ = deploy_record(
        project=project,
        service="fraud-scorer",
        environment="production",
        version="1.0",
        finished_at=timezone.now() - timedelta(minutes=5),
    )
    deploy_record(project=project, service="fraud-scorer", environment="staging", version="1.0")
    return deploy


def test_a_service_without_settings_reads_the_defaults(api, deploy, settings):
    body = api.get(URL).json()
    assert body == {
        "service": "fraud-scorer",
        "environment": None,
        "observation_window_minutes": settings.OBSERVATION_WINDOW_MINUTES,
        "warmup_minutes": 5,
        "seasonal_baseline": False,
        "impact_mode": "auto",
        "segment_labels": [],
        "sensitive_columns": [],
        "classification_threshold": 0.5,
        "required_checks": [],
        "overrides": [],
    }


def test_a_patch_sets_the_given_fields_and_keeps_the_others(api, deploy):
    first = api.patch(URL, {"impact_mode": "concurrent", "segment_labels": ["region"]}, format="json")
    assert first.status_code == 200, first.content
    second = api.patch(URL, {"required_checks": ["schema", "bias"]}, format="json").json()
    assert second["impact_mode"] == "concurrent"
    assert second["segment_labels"] == ["region"]
    assert second["required_checks"] == ["schema", "bias"]
    assert second["overrides"] == ["impact_mode", "required_checks", "segment_labels"]
    assert api.get(URL).json() == second


def test_an_environment_override_inherits_what_it_leaves_empty(api, deploy):
    api.patch(URL, {"observation_window_minutes": 90, "classification_threshold": 0.7}, format="json")
    staging = api.patch(URL + "?environment=staging", {"observation_window_minutes": 15}, format="json").json()
    assert staging["environment"] == "staging"
    assert staging["observation_window_minutes"] == 15
    assert staging["classification_threshold"] == 0.7
    assert staging["overrides"] == ["observation_window_minutes"]
    production = api.get(URL + "?environment=production").json()
    assert production["observation_window_minutes"] == 90
    assert production["overrides"] == []


def test_the_observation_window_applies_to_the_deploys_of_the_stream(api, deploy):
    api.patch(URL + "?environment=production", {"observation_window_minutes": 7}, format="json")
    assert Deploy.objects.get(pk=deploy.pk).window_minutes == 7
    staging = Deploy.objects.get(service=deploy.service, environment__name="staging")
    assert staging.window_minutes != 7


def test_null_makes_a_field_inherit_again(api, deploy):
    api.patch(URL, {"warmup_minutes": 12}, format="json")
    body = api.patch(URL, {"warmup_minutes": None}, format="json").json()
    assert body["warmup_minutes"] == 5
    assert body["overrides"] == []


def test_a_change_is_audited_with_what_changed(api, deploy, project):
    api.patch(URL + "?environment=staging", {"sensitive_columns": ["gender"]}, format="json")
    entry = AuditLog.objects.get(project=project, action="service_settings.saved")
    assert entry.details == {"service": "fraud-scorer", "environment": "staging", "sensitive_columns": ["gender"]}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"impact_mode": "sideways"}, "impact_mode"),
        ({"observation_window_minutes": 0}, "observation_window_minutes"),
        ({"observation_window_minutes": 10_081}, "observation_window_minutes"),
        ({"warmup_minutes": -1}, "warmup_minutes"),
        ({"classification_threshold": 1.5}, "classification_threshold"),
        ({"segment_labels": ["region", "region"]}, "segment_labels"),
        ({"segment_labels": ["not a label"]}, "segment_labels"),
        ({"segment_labels": ["a", "b", "c", "d", "e", "f"]}, "segment_labels"),
        ({"sensitive_columns": "gender"}, "sensitive_columns"),
        ({"required_checks": ["ok\u0000"]}, "required_checks"),
        ({"seasonal": True}, "seasonal"),
    ],
)
def test_bad_settings_are_a_400_naming_the_field_and_store_nothing(api, deploy, project, body, field):
    response = api.patch(URL, body, format="json")
    assert response.status_code == 400
    assert error_code(response) == "invalid"
    assert field in response.json()["error"]["fields"]
    assert not ServiceSettings.objects.exists()
    assert not AuditLog.objects.filter(action="service_settings.saved").exists()


def test_an_unknown_service_or_environment_is_a_404(api, deploy):
    assert error_code(api.get("/api/v1/services/nope/settings")) == "not_found"
    assert error_code(api.patch(URL + "?environment=nowhere", {"impact_mode": "auto"}, format="json")) == "not_found"


def test_reading_needs_read_and_changing_needs_admin(deploy, project, make_token):
    reader = client_for(make_token(project, ["read"]))
    assert reader.get(URL).status_code == 200
    assert reader.patch(URL, {"impact_mode": "auto"}, format="json").status_code == 403
    admin = client_for(make_token(project, ["admin"]))
    assert admin.patch(URL, {"impact_mode": "auto"}, format="json").status_code == 200


def test_a_change_asks_for_the_streams_open_reports_to_be_judged_again(api, deploy, django_capture_on_commit_callbacks):
    from unittest import mock

    from metrics.impact.models import ImpactReport

    ImpactReport.objects.update_or_create(deploy=deploy, defaults={"final": False, "sent_at": None})
    staging = Deploy.objects.get(service=deploy.service, environment__name="staging")
    ImpactReport.objects.update_or_create(deploy=staging, defaults={"final": True, "sent_at": None})
    send = mock.patch("metrics.impact.tasks.impact_compute.apply_async")
    with send as send, django_capture_on_commit_callbacks(execute=True):
        api.patch(URL, {"impact_mode": "sequential"}, format="json")
    assert [c.kwargs["args"] for c in send.call_args_list] == [(deploy.pk,)]  # the final report is left alone
    assert ImpactReport.objects.get(deploy=deploy).requested_at is not None
