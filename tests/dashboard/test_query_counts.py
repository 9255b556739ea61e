"""Pages and list endpoints cost the same number of queries with 5 deploys as with 60 (bench/scale.py measures
them at 10,000): no query per row, per deploy, per alert or per day."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from alerts.models import Alert, AlertGroup
from tests.dashboard.test_timeline_view import judge, record

pytestmark = pytest.mark.django_db

PAGES = {
    "alerts": lambda slug, deploy: f"/{slug}/alerts/",
    "dora": lambda slug, deploy: f"/{slug}/dora/?days=90",
    "deploy page": lambda slug, deploy: f"/{slug}/deploys/{deploy.pk}/",
}
API = {
    "deploy list": lambda deploy: "/api/v1/deploys",
    "deploy list (filtered)": lambda deploy: "/api/v1/deploys?service=svc-1&environment=production",
    "verdict": lambda deploy: f"/api/v1/deploys/{deploy.pk}/verdict",
    "alerts": lambda deploy: "/api/v1/alerts",
    "dora": lambda deploy: "/api/v1/dora?days=90",
}


def _grow(project, start: int, stop: int):
    """Older and older deploys over several streams, each with an impact verdict, a third degraded with an open
    alert."""
    deploys = []
    for n in range(start, stop):
        deploys.append(
            deploy := record(project, n * 7.5, service=f"svc-{n % 4}", environment=("production", "staging")[n % 2])
        )
        judge(deploy, "degraded" if n % 3 == 0 else "healthy", metrics=[])
        if n % 3 == 0:
            _alert(project, deploy)
    return deploys[0]  # the newest: it has earlier deploys of its stream to roll back to


def _alert(project, deploy) -> None:
    group, _ = AlertGroup.objects.get_or_create(
        project=project, service=deploy.service, environment=deploy.environment,
        defaults={"key": f"g-{deploy.service_id}-{deploy.environment_id}"},
    )  # fmt: skip
    Alert.objects.create(
        project=project, group=group, rule_key="impact_degraded", kind="impact_degraded", severity="error",
        deploy=deploy, service=deploy.service, environment=deploy.environment, fingerprint=f"{deploy.pk:064d}",
        title=f"{deploy} degraded", started_at=deploy.deployed_at, last_evaluated_at=deploy.deployed_at,
    )  # fmt: skip


def _count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, (url, response.content[:300])
    return len(queries)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_a_page_costs_the_same_queries_with_3_deploys_and_with_60(client, alice, project, page):
    client.force_login(alice)
    deploy = _grow(project, 0, 5)
    url = PAGES[page](project.slug, deploy)
    client.get(url)  # the session and the user, loaded once
    few = _count(client, url)
    _grow(project, 5, 60)
    assert _count(client, url) == few


@pytest.mark.parametrize("endpoint", sorted(API))
def test_an_api_read_costs_the_same_queries_with_3_deploys_and_with_60(api, project, endpoint):
    deploy = _grow(project, 0, 5)
    url = API[endpoint](deploy)
    api.get(url)  # the token's first use is recorded once
    few = _count(api, url)
    _grow(project, 5, 60)
    assert _count(api, url) == few


def test_the_deploy_list_api_joins_what_each_row_shows(api, project, django_assert_num_queries):
    _grow(project, 0, 60)
    # token, its project; the page of deploys with their service, environment, baseline and project
    with django_assert_num_queries(3):
        body = api.get("/api/v1/deploys", {"limit": 50}).json()
    assert len(body["results"]) == 50
    assert all(row["url"].endswith(f"/{project.slug}/deploys/{row['id']}/") for row in body["results"])
