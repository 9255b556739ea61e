"""Raw metric points partitioned by day on PostgreSQL: created ahead, dropped at retention, pruned by windows."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.contrib import admin
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from deployments.models import Environment, Service
from metrics.impact import partitions
from metrics.impact.models import MetricPoint
from metrics.impact.tasks import metrics_partitions, metrics_retention

# Partitions exist on PostgreSQL only: the `services` marker makes this file fail (never skip) on SQLite.
pytestmark = [pytest.mark.services, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _partitions_ahead():
    """As the hourly beat task would have (a test database may have been created on another day)."""
    metrics_partitions()


@pytest.fixture
def stream(project):
    service = Service.objects.create(project=project, name="fraud-scorer")
    environment = Environment.objects.create(project=project, name="production")
    return project, service, environment


def point(stream, ts: datetime, value: float = 1.0, name: str = "latency_ms") -> MetricPoint:
    project, service, environment = stream
    return MetricPoint(project=project, service=service, environment=environment, name=name, ts=ts, value=value)


def noon(days_from_today: int) -> datetime:
    today = timezone.now().astimezone(UTC).date() + timedelta(days=days_from_today)
    return datetime(today.year, today.month, today.day, 12, tzinfo=UTC)


def partition_of(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text FROM {partitions.TABLE} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def day(days_from_today: int):
    return noon(days_from_today).date()


def test_points_live_in_day_partitions_from_yesterday_to_a_week_ahead_plus_a_default():
    assert partitions.partitioned()
    metrics_partitions()
    days = partitions.day_partitions()
    assert all(day(offset) in days for offset in range(-1, partitions.DAYS_AHEAD + 1))
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [partitions.DEFAULT])
        assert cursor.fetchone()[0]


def test_creating_partitions_ahead_is_idempotent():
    metrics_partitions()
    assert metrics_partitions() == 0
    assert partitions.partitions_ensure(today=day(0)) == []


def test_an_orm_insert_for_a_day_without_a_partition_lands_in_the_default_partition(stream):
    far = noon(30)
    stored = MetricPoint.objects.bulk_create([point(stream, far), point(stream, noon(0))])
    assert partition_of(stored[0].pk) == partitions.DEFAULT
    assert partition_of(stored[1].pk) == partitions.partition_name(day(0))
    assert MetricPoint.objects.get(pk=stored[0].pk).ts == far


def test_a_copy_into_the_parent_routes_each_row_to_its_partition(stream):
    project, service, environment = stream
    rows = [(noon(0), 1.0), (noon(-20), 2.0)]
    text = "".join(
        f"{project.pk}\t{service.pk}\t{environment.pk}\t\\N\tx\t{ts.isoformat()}\t{v}\t\\N\n" for ts, v in rows
    )
    with connection.cursor() as cursor:
        cursor.copy_expert(
            f"COPY {partitions.TABLE} (project_id, service_id, environment_id, deploy_id, name, ts, value, labels) "
            "FROM STDIN",
            io.StringIO(text),
        )
    where = {p.value: partition_of(p.pk) for p in MetricPoint.objects.filter(name="x")}
    assert where == {1.0: partitions.partition_name(day(0)), 2.0: partitions.DEFAULT}


def test_points_posted_through_the_api_are_stored_in_todays_partition(stream, api):
    body = {"points": [{"service": "fraud-scorer", "environment": "production", "name": "errors", "value": 3,
                        "timestamp": timezone.now().isoformat()}]}  # fmt: skip
    response = api.post("/api/v1/metrics", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 202, response.content
    stored = MetricPoint.objects.get(name="errors")
    assert partition_of(stored.pk) == partitions.partition_name(timezone.now().astimezone(UTC).date())


def test_creating_a_partition_moves_that_days_points_out_of_the_default_partition(stream):
    later = MetricPoint.objects.bulk_create([point(stream, noon(12), value=float(i)) for i in range(5)])
    assert {partition_of(p.pk) for p in later} == {partitions.DEFAULT}
    created = partitions.partitions_ensure(today=day(12), days_ahead=0)
    assert partitions.partition_name(day(12)) in created
    assert {partition_of(p.pk) for p in later} == {partitions.partition_name(day(12))}
    assert sorted(MetricPoint.objects.filter(ts=noon(12)).values_list("value", flat=True)) == [0, 1, 2, 3, 4]


def test_retention_drops_whole_expired_day_partitions_and_keeps_today(stream, settings):
    settings.METRIC_RETENTION_DAYS = 30
    partitions.partitions_ensure(today=day(-40), days_ahead=3)  # days -41 … -37, all past the cutoff
    partitions.partitions_ensure(today=day(0))
    old = MetricPoint.objects.bulk_create([point(stream, noon(-40), value=float(i)) for i in range(3)])
    stray = MetricPoint.objects.bulk_create([point(stream, noon(-35), value=9.0)])  # no partition: default
    today = MetricPoint.objects.bulk_create([point(stream, noon(0), value=7.0)])
    assert partition_of(old[0].pk) == partitions.partition_name(day(-40))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {partitions.partition_name(day(-40))}")

    assert metrics_retention() == 4  # 3 from the dropped partition's statistics, 1 deleted from the default
    days = partitions.day_partitions()
    assert not [d for d in days if d <= day(-37)]  # every expired day partition is gone, not emptied
    assert day(0) in days and day(-1) in days
    assert list(MetricPoint.objects.values_list("pk", flat=True)) == [today[0].pk]
    assert not MetricPoint.objects.filter(pk=stray[0].pk).exists()


def test_retention_keeps_a_day_partition_until_its_whole_day_is_past_the_cutoff(stream, settings):
    settings.METRIC_RETENTION_DAYS = 1
    partitions.partitions_ensure(today=day(0))
    early = datetime.combine(day(-1), datetime.min.time(), tzinfo=UTC) + timedelta(minutes=1)
    kept = MetricPoint.objects.bulk_create([point(stream, early)])
    metrics_retention()
    # yesterday's partition still has a part within retention: it stays whole, with its oldest point
    assert day(-1) in partitions.day_partitions()
    assert MetricPoint.objects.filter(pk=kept[0].pk).exists()


def test_the_judges_window_query_reads_only_the_partitions_of_its_days():
    partitions.partitions_ensure(today=day(0))
    start = noon(-1)
    window = MetricPoint.objects.filter(
        name="latency_ms", deploy_id=1, ts__gte=start, ts__lt=start + timedelta(hours=20)
    )
    plan = window.values_list("value", flat=True).explain()
    scanned = {name for name in partitions.day_partitions().values() if name in plan}
    assert scanned == {partitions.partition_name(day(-1)), partitions.partition_name(day(0))}
    assert partitions.DEFAULT not in plan  # its days are covered by partitions: the default is pruned too
    one_day = MetricPoint.objects.filter(name="x", ts__gte=noon(1), ts__lt=noon(1) + timedelta(hours=1))
    plan = one_day.explain()
    assert [name for name in partitions.day_partitions().values() if name in plan] == [
        partitions.partition_name(day(1))
    ]


@pytest.mark.django_db(transaction=True)
def test_points_stored_before_the_partitioning_migration_stay_readable_and_new_ids_follow_them(stream):
    executor = MigrationExecutor(connection)
    before = ("impact", "0005_impact_report_mode_windows_segments")
    after = ("impact", "0006_metricpoint_partitioned_by_day")
    try:
        executor.migrate([before])
        project, service, environment = stream
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [partitions.TABLE])
            assert cursor.fetchone()[0] == "r"  # the plain table again (the migration reverses)
            for ts, value in ((noon(0), 1.0), (noon(-3), 2.0), (noon(-200), 3.0)):
                cursor.execute(
                    f"INSERT INTO {partitions.TABLE} (project_id, service_id, environment_id, name, ts, value) "  # noqa: S608
                    "VALUES (%s, %s, %s, 'old', %s, %s) RETURNING id",
                    [project.pk, service.pk, environment.pk, ts, value],
                )
        old_ids = list(MetricPoint.objects.order_by("pk").values_list("pk", flat=True))
        executor = MigrationExecutor(connection)
        executor.migrate([after])
        assert partitions.partitioned()
        assert sorted(MetricPoint.objects.filter(name="old").values_list("value", flat=True)) == [1.0, 2.0, 3.0]
        assert partition_of(old_ids[1]) == partitions.partition_name(day(-3))  # the kept days got partitions
        assert partition_of(old_ids[2]) == partitions.DEFAULT  # past retention: in the default, deleted next
        new = MetricPoint.objects.bulk_create([point(stream, noon(0), value=4.0)])
        assert new[0].pk > max(old_ids)
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_the_points_table_has_no_unique_index_and_ids_come_from_a_cached_sequence(stream):
    """Nothing reads a point by id: the primary key (id, ts) was a B-tree insert per point (migration 0009)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text, indisunique FROM pg_index WHERE indrelid = to_regclass(%s)",
            [partitions.TABLE],
        )
        indexes = dict(cursor.fetchall())
        cursor.execute("SELECT cache_size FROM pg_sequences WHERE sequencename = 'impact_metricpoint_point_id_seq'")
        cache = cursor.fetchone()[0]
    assert indexes == {"point_deploy_name_ts": False, "point_ts_brin": False}
    assert cache == 1000
    stored = MetricPoint.objects.bulk_create([point(stream, noon(0), value=v) for v in (1.0, 2.0)])
    later = MetricPoint.objects.bulk_create([point(stream, noon(0), value=3.0)])
    ids = [p.pk for p in stored + later]
    assert ids == sorted(set(ids))  # distinct and increasing within a connection


def test_the_points_admin_reads_only_the_newest_partitions(admin_client, stream):
    from metrics.impact.admin import MetricPointAdmin

    partitions.partitions_ensure(today=day(0))
    MetricPoint.objects.bulk_create([point(stream, noon(0)), point(stream, noon(-1))])
    request = admin_client.get("/admin/impact/metricpoint/").wsgi_request
    with mock.patch("metrics.impact.admin.timezone.now", return_value=noon(0)):  # not in the day's first minutes
        queryset = MetricPointAdmin(MetricPoint, admin.site).get_queryset(request)
    assert list(queryset.values_list("ts", flat=True)) == [noon(0)]
    plan = queryset.order_by("-ts")[:50].explain()
    assert partitions.partition_name(day(-1)) not in plan
    assert partitions.partition_name(day(0)) in plan
