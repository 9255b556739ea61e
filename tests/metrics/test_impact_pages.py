"""The impact parts of the pages: deploy page section and charts, timeline badge, metric settings page."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments.models import Deploy
from deployments.services import deploy_processed_mark, deploy_record
from metrics.impact.analysis import impact_compute
from metrics.impact.models import MetricSetting
from tests.metrics.stored import stored_count
from tracker.models import AuditLog

pytestmark = pytest.mark.django_db


def _deploy(project, version, minutes_ago):
    deploy, _ = deploy_record(
        project=project,
        service="fraud-scorer",
        environment="production",
        version=version,
        finished_at=timezone.now() - timedelta(minutes=minutes_ago),
    )
    deploy_processed_mark(deploy_id=deploy.pk)
    return Deploy.objects.select_related("service").get(pk=deploy.pk)


def _point(name, value, minutes_ago):
    stamp = (timezone.now() - timedelta(minutes=minutes_ago)).isoformat()
    return {"service": "fraud-scorer", "environment": "production", "name": name, "value": value, "timestamp": stamp}


def _post(api, n, names=("latency_ms", "accuracy")):
    rng = np.random.default_rng(n)
    points = []
    for name in names:
        for i in range(n):
            points.append(_point(name, float(rng.normal(100, 5)), 80 - 50 * i / n))  # the baseline's last hour
            points.append(_point(name, float(rng.normal(130, 5)), 24 - 23 * i / n))  # this deploy, after warm-up
    for start in range(0, len(points), 10_000):
        response = api.post(
            "/api/v1/metrics",
            data=json.dumps({"points": points[start : start + 10_000]}),
            content_type="application/json",
        )
        assert response.status_code == 202, response.content


@pytest.fixture
def judged(project, api):
    _deploy(project, "1.0", 180)
    current = _deploy(project, "1.1", 30)
    _post(api, 50)
    impact_compute(deploy=current)
    return current


def _queries(client, url):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content.decode()


def test_the_deploy_page_shows_the_verdict_the_metric_table_and_a_chart_per_metric(client, alice, project, judged):
    client.force_login(alice)
    _, html = _queries(client, f"/{project.slug}/deploys/{judged.pk}/")
    assert 'id="impact-verdict">Degraded' in html
    assert 'data-metric="latency_ms"' in html and 'data-metric="accuracy"' in html
    assert "significantly higher than baseline" in html
    assert 'id="impact-chart-0"' in html and 'id="impact-chart-1"' in html
    assert "vendor/plotly-basic-4.1.1.min.js" in html
    charts = json.loads(html.split('<script id="impact-charts" type="application/json">')[1].split("</script>")[0])
    names = [trace["name"] for trace in charts[0]["data"]]
    assert names == ["baseline 1.0", "this deploy 1.1"]
    assert any(shape["type"] == "rect" for shape in charts[0]["layout"]["shapes"])  # the judged windows


def test_the_deploy_page_queries_do_not_grow_with_the_number_of_points(client, alice, project, api, judged):
    client.force_login(alice)
    url = f"/{project.slug}/deploys/{judged.pk}/"
    few, _ = _queries(client, url)
    _post(api, 4000)  # 16,000 more points across many more minutes
    impact_compute(deploy=judged)
    many, html = _queries(client, url)
    posted = stored_count(deploy_id=judged.baseline_id, name="latency_ms")
    assert posted > 4000 and f"{posted} / " in html  # every point counted, none of them fetched by the page
    assert many == few


def test_the_timeline_shows_an_impact_badge_without_a_query_per_row(client, alice, project, judged):
    client.force_login(alice)
    one, html = _queries(client, f"/{project.slug}/")
    assert "impact degraded" in html
    for i in range(5):
        impact_compute(deploy=_deploy(project, f"2.{i}", 20 - i))
    more, _ = _queries(client, f"/{project.slug}/")
    assert more == one


def test_an_admin_changes_a_metric_setting_on_the_settings_page(client, alice, project, judged):
    client.force_login(alice)
    page = client.get(f"/{project.slug}/services/fraud-scorer/metrics/")
    assert page.status_code == 200 and b'data-metric="accuracy"' in page.content
    response = client.post(
        f"/{project.slug}/services/fraud-scorer/metrics/save",
        {"name": "accuracy", "direction": "decrease_is_bad", "allowed_change": "0.05", "critical": "on",
         "min_samples": "40", "warmup_minutes": "3"},
    )  # fmt: skip
    assert response.status_code == 302
    setting = MetricSetting.objects.get(name="accuracy")
    assert (setting.critical, setting.allowed_change, setting.min_samples) == (True, 0.05, 40)
    assert AuditLog.objects.filter(action="metric_setting.saved", actor_user=alice).exists()


def test_a_viewer_sees_the_settings_but_cannot_change_them(client, vera, project, judged):
    client.force_login(vera)
    page = client.get(f"/{project.slug}/services/fraud-scorer/metrics/")
    assert page.status_code == 200 and b"Only project admins" in page.content
    response = client.post(f"/{project.slug}/services/fraud-scorer/metrics/save", {"name": "accuracy"})
    assert response.status_code == 403
    assert not MetricSetting.objects.exists()


def test_an_outsider_gets_404_on_the_settings_page(client, charlie, other_project, project, judged):
    client.force_login(charlie)
    assert client.get(f"/{project.slug}/services/fraud-scorer/metrics/").status_code == 404


def test_the_django_admin_lists_metric_settings_and_impact_reports(admin_client, judged):
    MetricSetting.objects.create(project=judged.project, service=judged.service, name="auc", direction="either")
    assert b"auc" in admin_client.get("/admin/impact/metricsetting/").content
    reports = admin_client.get("/admin/impact/impactreport/")
    assert reports.status_code == 200 and b"degraded" in reports.content
    assert admin_client.get("/admin/impact/metricrollup/").status_code == 200
