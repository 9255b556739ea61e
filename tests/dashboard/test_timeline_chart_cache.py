"""The visual timeline's deploys are kept per process under a stamp of the deploys it draws (their number, ids and
change tags): a view drawn again with nothing changed skips the chart's query, and any change to what the chart
shows (a deploy's field, a report's verdict, a deploy added or removed) is drawn at the next request."""

from __future__ import annotations

import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test.utils import CaptureQueriesContext

from deployments.models import Deploy, Status
from metrics.drift.models import DriftReport
from metrics.impact.models import ImpactReport
from tests.dashboard.test_timeline_view import chart_points, judge, record

pytestmark = pytest.mark.django_db


def markers(client, project) -> dict[str, tuple[str, str]]:
    """version -> (stream, verdict) of every marker the chart draws."""
    return {p[3]: (p[1], p[4]) for p in chart_points(client.get(f"/{project.slug}/"))}


def queries(client, project) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(f"/{project.slug}/").status_code == 200
    return [q["sql"] for q in captured.captured_queries]


def chart_reads(sqls: list[str]) -> int:
    """The chart's own query: the only one that joins the impact report to a list of deploys' names."""
    return sum('"impact_impactreport"."verdict" AS "impact_verdict"' in q and "LIMIT 2000" in q for q in sqls)


def test_a_view_drawn_again_unchanged_skips_the_charts_query(client, alice, project):
    client.force_login(alice)
    judge(record(project, 1), "healthy")
    judge(record(project, 2), "degraded")
    first, again = queries(client, project), queries(client, project)
    assert chart_reads(first) == 1
    assert chart_reads(again) == 0
    assert len(again) == len(first) - 1


def test_the_kept_markers_embedded_in_the_page_are_the_figure_drawn(client, alice, project):
    """The markers' JSON text is made once and kept: what the browser reads is the figure of this request."""
    client.force_login(alice)
    judge(record(project, 1), "healthy")
    for _ in range(2):
        response = client.get(f"/{project.slug}/", {"range": "7d"})
        html = response.content.decode()
        embedded = html.split('<script id="timeline-chart-data" type="application/json">')[1].split("</script>")[0]
        assert json.loads(embedded) == json.loads(json.dumps(response.context["chart"], cls=DjangoJSONEncoder))
        assert json.loads(embedded)["layout"]["xaxis"]["range"]  # the request's own layout beside the kept data


def test_a_reports_new_verdict_is_drawn_whatever_path_wrote_it(client, alice, project):
    client.force_login(alice)
    deploy = record(project, 1)
    judge(deploy, "healthy")
    assert markers(client, project)["v1"][1] == "Healthy"
    ImpactReport.objects.filter(deploy=deploy).update(verdict="degraded")  # a queryset update
    assert markers(client, project)["v1"][1] == "Degraded"
    report = ImpactReport.objects.get(deploy=deploy)
    report.verdict = "improved"
    report.save()  # a model save, as the judge does
    assert markers(client, project)["v1"][1] == "Improved"
    DriftReport.objects.create(deploy=deploy, status="ok", n_columns=10, n_drifted=6, dataset_drift=True)
    assert markers(client, project)["v1"][1] == "Degraded"  # drift joined the verdict
    DriftReport.objects.filter(deploy=deploy).update(dataset_drift=False, n_drifted=0)
    assert markers(client, project)["v1"][1] == "Improved"


def test_a_new_pending_report_made_in_bulk_is_drawn(client, alice, project):
    client.force_login(alice)
    deploy = record(project, 1)
    ImpactReport.objects.filter(deploy=deploy).delete()
    before = markers(client, project)["v1"][1]
    ImpactReport.objects.bulk_create([ImpactReport(deploy=deploy, verdict="degraded")])
    assert (before, markers(client, project)["v1"][1]) == ("No metrics", "Degraded")


def test_a_deploys_changed_field_added_or_removed_deploy_is_drawn(client, alice, project):
    client.force_login(alice)
    older, newer = record(project, 2), record(project, 1)
    judge(older, "healthy")
    judge(newer, "healthy")
    assert set(markers(client, project)) == {"v1", "v2"}
    Deploy.objects.filter(pk=older.pk).update(status=Status.ROLLED_BACK)  # as a rollback marks it
    assert markers(client, project)["v2"][1] == "Rolled back"
    newer.version = "v1-renamed"
    newer.save(update_fields=["version"])
    assert set(markers(client, project)) == {"v1-renamed", "v2"}
    record(project, 0.5)
    assert set(markers(client, project)) == {"v0.5", "v1-renamed", "v2"}
    Deploy.objects.filter(pk=older.pk).delete()
    assert set(markers(client, project)) == {"v0.5", "v1-renamed"}


def test_every_write_gives_the_deploy_a_new_tag_and_other_report_fields_do_not(project):
    deploy = record(project, 1)
    judge(deploy, "healthy")

    def tag() -> int:
        return Deploy.objects.values_list("tag", flat=True).get(pk=deploy.pk)

    seen = [tag()]
    deploy.save(update_fields=["author"])
    seen.append(tag())
    Deploy.objects.filter(pk=deploy.pk).update(author="zed")
    seen.append(tag())
    ImpactReport.objects.filter(deploy=deploy).update(final=False)
    seen.append(tag())
    assert len(set(seen)) == 4
    ImpactReport.objects.filter(deploy=deploy).update(score=0.5, sent_at=deploy.deployed_at, requested_at=None)
    DriftReport.objects.filter(deploy=deploy).update(due_at=deploy.deployed_at)
    assert tag() == seen[-1]  # the score (the rows' alone) and the sweep's bookkeeping are not on the chart


def test_a_recomputation_that_reaches_the_same_verdict_keeps_the_chart(project):
    """The judges store a report every minute while a deploy is in its window: only a change the chart draws
    (verdict, final, no metric at all; drift's counts) retags the deploy, compared with what is stored now."""
    deploy = record(project, 1)
    judge(deploy, "healthy")

    def tag() -> int:
        return Deploy.objects.values_list("tag", flat=True).get(pk=deploy.pk)

    before = tag()
    report = ImpactReport.objects.get(deploy=deploy)
    report.score, report.reasons, report.metrics = 0.1, ["p99 within bounds"], [{"name": "p99", "n": 400}]
    report.save()
    assert tag() == before
    stale = ImpactReport.objects.get(deploy=deploy)  # another worker's copy, read before the change below
    report.verdict = "degraded"
    report.save()
    assert tag() != before
    after = tag()
    stale.save()  # stores "healthy" over "degraded": compared with what is stored, not with what it read
    assert tag() != after
    drift = DriftReport.objects.create(deploy=deploy, status="ok", n_columns=10, n_drifted=1)
    after = tag()
    drift.drift_share, drift.compute_ms = 0.1, 3.0
    drift.save()
    assert tag() == after
    drift.n_drifted = 2
    drift.save()
    assert tag() != after


def test_a_renamed_service_or_environment_is_drawn_under_its_new_name(client, alice, project):
    client.force_login(alice)
    deploy = record(project, 1)
    assert markers(client, project)["v1"][0] == "fraud-scorer · production"
    service = deploy.service
    service.name = "fraud-scorer-v2"
    service.save()
    assert markers(client, project)["v1"][0] == "fraud-scorer-v2 · production"
    environment = deploy.environment
    environment.is_production = True
    environment.save()  # not a rename: the kept chart stays
    environment.name = "prod-eu"
    environment.save()
    assert markers(client, project)["v1"][0] == "fraud-scorer-v2 · prod-eu"


def test_the_migration_gives_every_existing_deploy_its_own_tag(project):
    """Adding the column gives every stored deploy one value; the migration then tags each apart, so that two views
    over different deploys with the same number and sum of ids never share a stamp."""
    import importlib

    from django.apps import apps
    from django.db import connection

    migration = importlib.import_module("deployments.migrations.0006_deploy_tag")
    for hours in (1, 2, 3, 4):
        record(project, hours)
    Deploy.objects.update(tag=7)  # as AddField leaves them
    ids = sorted(Deploy.objects.values_list("pk", flat=True))
    first, second = Deploy.objects.filter(pk__in=[ids[0], ids[3]]), Deploy.objects.filter(pk__in=ids[1:3])
    assert first.stamp() == second.stamp()  # the collision the migration prevents
    migration.tag_each_deploy(apps, connection.schema_editor())
    assert len(set(Deploy.objects.values_list("tag", flat=True))) == 4
    assert first.stamp() != second.stamp()
