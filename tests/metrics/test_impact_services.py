"""Writes of live metrics that pages and the API share: metric settings, audited by the service itself."""

from __future__ import annotations

import pytest

from deployments.services import service_get_or_create
from metrics.impact.services import metric_setting_save
from tracker.models import AuditLog
from tracker.services import token_issue

pytestmark = pytest.mark.django_db


def test_saving_a_metric_setting_audits_what_was_applied_and_by_whom(project) -> None:
    service = service_get_or_create(project=project, name="svc")
    token, _ = token_issue(project=project, name="ci", scopes=["admin"])
    setting = metric_setting_save(project=project, service=service, name="latency_ms", allowed_change=0.2, token=token)
    [entry] = AuditLog.objects.filter(action="metric_setting.saved")
    assert (entry.actor_token, entry.target_id) == (token, str(setting.pk))
    assert entry.details == {"service": "svc", "name": "latency_ms", "allowed_change": 0.2}


def test_a_page_and_the_api_each_leave_one_audit_entry(client, alice, api, project) -> None:
    service_get_or_create(project=project, name="svc")
    client.force_login(alice)
    form = {"name": "accuracy", "direction": "decrease_is_bad", "allowed_change": "0.05", "min_samples": "40",
            "warmup_minutes": "3"}  # fmt: skip
    assert client.post(f"/{project.slug}/services/svc/metrics/save", form).status_code == 302
    assert api.put("/api/v1/metric-settings/svc/accuracy", {"critical": True}, format="json").status_code == 200
    saved = AuditLog.objects.filter(action="metric_setting.saved")
    by_page, by_api = (
        saved.get(actor_user=alice, actor_token=None),
        saved.get(actor_user=None, actor_token__isnull=False),
    )
    assert saved.count() == 2 and by_page.details["name"] == "accuracy"
    assert by_api.details == {"service": "svc", "name": "accuracy", "critical": True}
