from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deployments.services import deploy_record


def record(project, n, **fields):
    at = timezone.now() - timedelta(hours=n)
    deploy, _ = deploy_record(
        project=project,
        service="fraud-scorer" if n % 2 else "churn-model",
        environment="production",
        version=f"1.{n}",
        finished_at=at,
        commit_sha=f"{n:07x}abc",
        author="dana",
        model_name="gbm",
        model_version=str(n),
        strategy="canary",
        traffic_percent=10,
        **fields,
    )
    return deploy


def timeline_queries(client, project) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/{project.slug}/").status_code == 200
    return len(queries)


def test_the_timeline_query_count_does_not_grow_with_its_deploys(client, alice, project):
    client.force_login(alice)
    for n in range(3):
        record(project, n)
    few = timeline_queries(client, project)
    for n in range(3, 40):
        record(project, n)
    assert timeline_queries(client, project) == few


def test_the_timeline_shows_deploys_newest_first_grouped_by_day(client, alice, project):
    client.force_login(alice)
    old, new = record(project, 30), record(project, 1)
    page = client.get(f"/{project.slug}/").content.decode()
    assert page.index(new.version) < page.index(old.version)
    assert "fraud-scorer" in page and "gbm:1" in page and "Canary · 10%" in page


def test_the_timeline_filters_by_service_and_environment(client, alice, project):
    client.force_login(alice)
    record(project, 1)
    record(project, 2)
    page = client.get(f"/{project.slug}/", {"service": "churn-model"}).content.decode()
    assert "1.2" in page and ">1.1<" not in page.replace("</strong> ", ">")


def test_the_deploy_page_shows_what_changed_against_the_baseline(client, alice, project):
    client.force_login(alice)
    record(project, 4, params={"depth": 6, "lr": 0.1})
    deploy = record(project, 2, params={"depth": 8, "extra": True})
    page = client.get(f"/{project.slug}/deploys/{deploy.pk}/").content.decode()
    assert "What changed" in page and "1.4" in page
    assert "depth" in page and "changed" in page and "extra" in page and "removed" in page


def test_pages_need_a_login(client, project):
    response = client.get(f"/{project.slug}/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_user_of_another_project_gets_404_on_every_page(client, charlie, project, other_project):
    deploy = record(project, 1)
    client.force_login(charlie)
    for url in (f"/{project.slug}/", f"/{project.slug}/deploys/{deploy.pk}/"):
        assert client.get(url).status_code == 404
    # Their own project's URL with another project's deploy id is a 404 too.
    assert client.get(f"/{other_project.slug}/deploys/{deploy.pk}/").status_code == 404


def test_the_compare_page_shows_two_deploys_side_by_side(client, alice, project):
    client.force_login(alice)
    a = record(project, 5, params={"depth": 6})
    b = record(project, 3, params={"depth": 9})
    page = client.get(f"/{project.slug}/compare/{a.pk}/{b.pk}/").content.decode()
    assert a.version in page and b.version in page and "differs" in page and "depth" in page
    assert client.get(f"/{project.slug}/compare/{a.pk}/999999/").status_code == 404


def test_the_timeline_is_live_only_while_a_deploy_is_in_its_window(client, alice, project):
    client.force_login(alice)
    record(project, 5)
    assert 'data-live="0"' in client.get(f"/{project.slug}/").content.decode()
    deploy_record(project=project, service="svc", environment="production", version="now")
    assert 'data-live="1"' in client.get(f"/{project.slug}/").content.decode()


def test_filters_that_do_not_parse_are_dropped_not_errors(client, alice, project):
    client.force_login(alice)
    record(project, 1)
    page = client.get(f"/{project.slug}/", {"status": "exploded", "service": "fraud-scorer"}).content.decode()
    assert "1.1" in page and '<option value="exploded"' not in page
    for days, shown in (("abc", 30), ("0", 1), ("9999", 365), ("", 30)):
        response = client.get(f"/{project.slug}/dora/", {"days": days, "all": "1"})
        assert response.status_code == 200 and response.context["days"] == shown
        assert response.context["production_only"] is False
    assert client.get(f"/{project.slug}/dora/").context["production_only"] is True


def test_the_timeline_asks_each_app_for_its_badges_in_one_query_whatever_the_rows(project, django_assert_num_queries):
    from dashboard.selectors import timeline_rows, with_badges
    from deployments.models import Deploy

    few, many = [record(project, n) for n in range(2)], [record(project, n) for n in range(2, 30)]
    for deploys in (few, few + many):
        # The impact and drift badges come joined in with the deploys.
        loaded = list(with_badges(Deploy.objects.filter(pk__in=[d.pk for d in deploys])).order_by("pk"))
        with django_assert_num_queries(2):  # open alerts, rollback requests
            rows = timeline_rows(loaded)
        assert [row.deploy for row in rows] == sorted(deploys, key=lambda d: d.pk)
        assert all((row.impact, row.drift, row.open_alerts, row.rollback) == (None, None, 0, None) for row in rows)


def test_the_compare_page_costs_the_same_queries_whatever_the_metrics_and_points(client, alice, project):
    from metrics.impact.models import ImpactReport, MetricRollup

    a, b = record(project, 1), record(project, 2)

    def judged(deploy, names):
        window = [deploy.deployed_at.isoformat(), (deploy.deployed_at + timedelta(minutes=30)).isoformat()]
        metrics = [{"name": n, "windows": {"current": window}} for n in names]
        ImpactReport.objects.update_or_create(
            deploy=deploy, defaults={"verdict": "healthy", "metrics": metrics, "computed_at": timezone.now()}
        )
        MetricRollup.objects.bulk_create(
            MetricRollup(project=project, service_id=deploy.service_id, environment_id=deploy.environment_id,
                         name=n, minute=deploy.deployed_at + timedelta(minutes=m), deploy_key=deploy.pk,
                         count=1, total=float(m), total_squares=float(m * m), min_value=m, max_value=m)
            for n in names for m in range(20)
        )  # fmt: skip

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"/{project.slug}/compare/{a.pk}/{b.pk}/")
        assert response.status_code == 200
        return len(ctx.captured_queries), response

    client.force_login(alice)
    judged(a, ["latency_ms"])
    few, _ = queries()
    judged(b, ["latency_ms", "error_rate", "auc"])
    many, response = queries()
    assert many == few
    assert len(response.context["compare_charts"]) == 3
