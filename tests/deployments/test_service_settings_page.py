"""The service settings page: everyone in the project reads a service's analysis settings; admins change the
service's own values and each environment's override (audited through the same service as the API)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from deployments.models import ServiceSettings
from deployments.services import deploy_record
from tracker.models import AuditLog

pytestmark = pytest.mark.django_db

EMPTY = {
    "observation_window_minutes": "",
    "warmup_minutes": "",
    "seasonal_baseline": "",
    "impact_mode": "",
    "segment_labels": "",
    "sensitive_columns": "",
    "classification_threshold": "",
    "required_checks": "",
}


@pytest.fixture
def service(project):
    for environment in ("production", "staging"):
        deploy_record(project=project, service="fraud-scorer", environment=environment, version="1.0")
    return "fraud-scorer"


def url(project, service="fraud-scorer"):
    return f"/{project.slug}/services/{service}/settings/"


def test_an_admin_sees_a_form_for_the_service_and_one_per_environment(client, alice, project, service):
    client.force_login(alice)
    page = client.get(url(project)).content.decode()
    for section in ("settings-service", "settings-production", "settings-staging"):
        assert f'id="{section}"' in page
    assert page.count('class="stacked service-settings-form"') == 3 and 'name="required_checks"' in page
    assert "Now: auto (inherited)" in page and "Now: 0.5 (inherited)" in page


def test_an_admin_saves_the_services_values_and_the_api_reads_them(client, alice, api, project, service):
    client.force_login(alice)
    body = {
        **EMPTY,
        "environment": "",
        "observation_window_minutes": "45",
        "impact_mode": "concurrent",
        "seasonal_baseline": "true",
        "segment_labels": "region, country",
        "sensitive_columns": "gender,age_band",
        "classification_threshold": "0.7",
        "required_checks": "schema, bias",
    }
    response = client.post(url(project), body)
    assert response.status_code == 302 and response["Location"].endswith("#settings-service")
    answer = api.get("/api/v1/services/fraud-scorer/settings").json()
    assert answer["observation_window_minutes"] == 45 and answer["impact_mode"] == "concurrent"
    assert answer["seasonal_baseline"] is True and answer["segment_labels"] == ["region", "country"]
    assert answer["sensitive_columns"] == ["gender", "age_band"] and answer["classification_threshold"] == 0.7
    assert answer["required_checks"] == ["schema", "bias"]
    entry = AuditLog.objects.get(action="service_settings.saved")
    assert entry.actor_user == alice and entry.details["environment"] is None
    assert entry.details["required_checks"] == ["schema", "bias"]
    page = client.get(url(project)).content.decode()
    assert "Now: 45 (set here)" in page and 'value="region, country"' in page


def test_an_environment_override_sets_only_what_differs_and_empty_inherits_again(client, alice, api, project, service):
    client.force_login(alice)
    client.post(url(project), {**EMPTY, "environment": "", "observation_window_minutes": "45"})
    client.post(url(project), {**EMPTY, "environment": "staging", "impact_mode": "sequential"})
    staging = api.get("/api/v1/services/fraud-scorer/settings", {"environment": "staging"}).json()
    assert (staging["impact_mode"], staging["observation_window_minutes"]) == ("sequential", 45)
    assert staging["overrides"] == ["impact_mode"]
    production = api.get("/api/v1/services/fraud-scorer/settings", {"environment": "production"}).json()
    assert production["impact_mode"] == "auto"
    # Emptied: the override inherits again.
    client.post(url(project), {**EMPTY, "environment": "staging"})
    staging = api.get("/api/v1/services/fraud-scorer/settings", {"environment": "staging"}).json()
    assert staging["impact_mode"] == "auto" and staging["overrides"] == []


def test_only_the_changed_fields_are_audited_and_an_unchanged_form_records_nothing(client, alice, project, service):
    client.force_login(alice)
    body = {**EMPTY, "environment": "production", "warmup_minutes": "10", "required_checks": "schema"}
    client.post(url(project), body)
    client.post(url(project), {**body, "warmup_minutes": "12"})
    response = client.post(url(project), {**body, "warmup_minutes": "12"}, follow=True)
    assert "Nothing changed." in response.content.decode()
    details = [e.details for e in AuditLog.objects.filter(action="service_settings.saved").order_by("at", "id")]
    assert len(details) == 2
    assert details[1] == {"service": "fraud-scorer", "environment": "production", "warmup_minutes": 12}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("observation_window_minutes", "0"),
        ("warmup_minutes", "99999"),
        ("impact_mode", "sometimes"),
        ("classification_threshold", "1.5"),
        ("segment_labels", "region, region"),
        ("segment_labels", "not a label"),
        ("segment_labels", "a,b,c,d,e,f"),
        ("required_checks", "bell\x07"),
    ],
)
def test_an_invalid_value_is_answered_on_the_page_and_stores_nothing(client, alice, project, service, field, value):
    client.force_login(alice)
    response = client.post(url(project), {**EMPTY, "environment": "", field: value})
    assert response.status_code == 400 and "Settings not saved" in response.content.decode()
    assert not ServiceSettings.objects.exists() and not AuditLog.objects.filter(action="service_settings.saved")


def test_an_unknown_environment_stores_nothing(client, alice, project, service):
    client.force_login(alice)
    response = client.post(url(project), {**EMPTY, "environment": "moon", "impact_mode": "concurrent"}, follow=True)
    assert "No environment named moon" in response.content.decode()
    assert not ServiceSettings.objects.exists()


@pytest.mark.parametrize("who", ["bob", "vera"])
def test_a_deployer_or_viewer_reads_the_values_and_a_forged_post_is_refused(request, project, service, who):
    user = request.getfixturevalue(who)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get(url(project)).content.decode()
    assert 'id="settings-read-only"' in page and '<form method="post" class="stacked' not in page
    assert page.count('class="service-settings-values"') == 3 and "auto" in page
    token = client.cookies["csrftoken"].value
    body = {**EMPTY, "environment": "", "impact_mode": "concurrent", "csrfmiddlewaretoken": token}
    assert client.post(url(project), body).status_code == 403
    assert not ServiceSettings.objects.exists()


def test_a_post_without_the_csrf_token_is_refused(alice, project, service):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(url(project), {**EMPTY, "environment": "", "impact_mode": "concurrent"}).status_code == 403
    assert not ServiceSettings.objects.exists()


def test_an_unknown_service_is_a_404(client, alice, project, service):
    client.force_login(alice)
    assert client.get(url(project, "nope")).status_code == 404


def test_the_service_page_and_the_metric_settings_page_link_to_it(client, alice, project, service):
    client.force_login(alice)
    for page in (f"/{project.slug}/services/fraud-scorer/", f"/{project.slug}/services/fraud-scorer/metrics/"):
        assert f'href="{url(project)}"' in client.get(page).content.decode(), page


def queries(client, path) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def test_the_query_count_does_not_grow_with_environments_or_overrides(client, alice, project, service):
    client.force_login(alice)
    few = queries(client, url(project))
    for n in range(5):
        deploy_record(project=project, service="fraud-scorer", environment=f"region-{n}", version="1.0")
        client.post(url(project), {**EMPTY, "environment": f"region-{n}", "warmup_minutes": str(n)})
    assert queries(client, url(project)) == few
