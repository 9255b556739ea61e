"""The metric sources API and page: admin only, credentials write-only, templates checked when saved, audited."""

from __future__ import annotations

import pytest

from metrics.sources.models import MetricSource
from tests.helpers import error_code
from tracker.models import AuditLog

pytestmark = pytest.mark.django_db

QUERY = {"service": "fraud-scorer", "name": "latency_ms", "query": 'avg(latency_ms{version="{{version}}"})',
         "step_seconds": 15, "direction": "increase_is_bad"}  # fmt: skip


def _create(api, **fields):
    body = {"name": "prom", "url": "https://93.184.215.14:9090", "queries": [QUERY], **fields}
    return api.post("/api/v1/metric-sources", body, format="json")


def test_it_creates_lists_changes_and_deletes_a_source_with_audit_entries(api) -> None:
    made = _create(api, basic_auth={"username": "u", "password": "p@ss"})
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["has_credentials"] is True and "p@ss" not in made.content.decode()
    assert body["queries"][0] | {"critical": False} == QUERY | {"critical": False, "allowed_change": 0.1,
                                                                  "min_samples": 30}  # fmt: skip
    assert body["health"] == {"healthy": None, "last_success_at": None, "last_error_at": None, "last_error": ""}
    assert [s["id"] for s in api.get("/api/v1/metric-sources").json()["results"]] == [body["id"]]
    changed = api.patch(f"/api/v1/metric-sources/{body['id']}", {"bearer_token": "", "timeout_seconds": 3},
                        format="json")  # fmt: skip
    assert changed.status_code == 200 and changed.json()["has_credentials"] is False
    assert changed.json()["timeout_seconds"] == 3 and len(changed.json()["queries"]) == 1
    assert body["tenant"] == "" and api.patch(f"/api/v1/metric-sources/{body['id']}", {"tenant": "team-a"},
                                              format="json").json()["tenant"] == "team-a"  # fmt: skip
    assert api.delete(f"/api/v1/metric-sources/{body['id']}").status_code == 204
    assert not MetricSource.objects.exists()
    actions = list(AuditLog.objects.filter(action__startswith="metric_source.").values_list("action", flat=True))
    assert sorted(actions) == ["metric_source.created", "metric_source.deleted"] + ["metric_source.updated"] * 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"queries": [QUERY | {"query": "up{v={{version}}}"}]}, "queries.0"),
        ({"queries": [QUERY, QUERY]}, "queries.1"),
        ({"url": "https://10.0.0.1/"}, "url"),
        ({"url": "https://user:pw@93.184.215.14/"}, "url"),
        ({"timeout_seconds": 31}, "timeout_seconds"),
        ({"tenant": "team a"}, "tenant"),
        ({"tenant": "a||b"}, "tenant"),
        ({"tenant": "t\nX-Injected: 1"}, "tenant"),
        ({"tenant": "t" * 151}, "tenant"),
        ({"queries": [QUERY | {"step_seconds": 0}]}, "queries"),
        ({"kind": "graphite"}, "kind"),
        ({"bearer_token": "t", "basic_auth": {"username": "u", "password": "p"}}, "bearer_token"),
    ],
)
def test_it_refuses_bad_settings_field_by_field_and_stores_nothing(api, change, field) -> None:
    response = _create(api, **change)
    assert response.status_code == 400, response.content
    assert error_code(response) == "invalid" and field in response.json()["error"]["fields"]
    assert not MetricSource.objects.exists()


def test_a_token_without_admin_cannot_see_sources(project, make_token) -> None:
    from tests.helpers import client_for

    reader = client_for(make_token(project, ["read", "ingest"]))
    assert error_code(reader.get("/api/v1/metric-sources")) == "insufficient_scope"


def test_the_settings_page_shows_each_sources_health_and_the_page_creates_one(client, alice, api, project) -> None:
    source = MetricSource.objects.get(pk=_create(api).json()["id"])
    MetricSource.objects.filter(pk=source.pk).update(
        last_error="store unreachable: timed out", last_error_at=source.created_at
    )
    client.force_login(alice)
    settings_page = client.get(f"/{project.slug}/settings/").content.decode()
    assert 'id="metric-sources"' in settings_page and "failing" in settings_page
    assert "store unreachable: timed out" in settings_page
    form = {"name": "second", "url": "https://93.184.215.14", "timeout_seconds": "5", "queries": "[]"}
    assert client.post(f"/{project.slug}/metric-sources/", form).status_code == 302
    page = client.get(f"/{project.slug}/metric-sources/").content.decode()
    assert "second" in page and "Test query (last hour)" in page
    bad = client.post(f"/{project.slug}/metric-sources/", form | {"name": "third", "queries": "not json"})
    assert bad.status_code == 400 and "not JSON" in bad.content.decode()


def test_a_deployer_cannot_open_the_sources_page(client, bob, project) -> None:
    client.force_login(bob)
    assert client.get(f"/{project.slug}/metric-sources/").status_code == 403


def test_rotate_secrets_re_encrypts_a_sources_credentials(project, settings) -> None:
    from io import StringIO

    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from metrics.sources.services import request_headers, source_create

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    source = source_create(project=project, name="p", url="https://93.184.215.14", bearer_token="tok")
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    out = StringIO()
    call_command("rotate_secrets", stdout=out)
    assert "1 re-encrypted" in out.getvalue()
    settings.FIELD_ENCRYPTION_KEYS = [new]
    source.refresh_from_db()
    assert request_headers(source) == {"Authorization": "Bearer tok"}


def test_metrics_exposes_each_sources_health(client, api, project, settings) -> None:
    from django.utils import timezone

    settings.METRICS_TOKEN = "scrape"
    source = MetricSource.objects.get(pk=_create(api).json()["id"])
    MetricSource.objects.filter(pk=source.pk).update(last_success_at=timezone.now())
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape").content.decode()
    assert 'deploy_tracker_metric_source_up{project="alpha",source="prom"} 1.0\n' in body
    assert 'deploy_tracker_metric_source_last_success_timestamp_seconds{project="alpha",source="prom"} ' in body
