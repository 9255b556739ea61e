"""Raw metric points (their chunks) partitioned by day on PostgreSQL: created ahead, dropped at retention, pruned by
windows; and the migrations that got them there keep every point."""

from __future__ import annotations

import io
import json
import math
import struct
from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.contrib import admin
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from deployments.models import Environment, Service
from metrics.impact import partitions
from metrics.impact.models import MetricChunk
from metrics.impact.tasks import metrics_partitions, metrics_retention
from tests.metrics.stored import EPOCH, stored_points

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


def point(stream, ts: datetime, value: float = 1.0, name: str = "latency_ms") -> MetricChunk:
    """A chunk of one point."""
    project, service, environment = stream
    return MetricChunk(project=project, service=service, environment=environment, name=name, count=1,
                       minute=ts.replace(second=0, microsecond=0), stamps=struct.pack(">q", micros(ts)),
                       values=struct.pack(">d", value))  # fmt: skip


def micros(ts: datetime) -> int:
    return (ts - EPOCH) // timedelta(microseconds=1)


def copy_bytea(data: bytes) -> str:
    """bytea's hex form (\\x…) in COPY's text form, which doubles the backslash."""
    return "\\\\x" + data.hex()


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
    stored = MetricChunk.objects.bulk_create([point(stream, far), point(stream, noon(0))])
    assert partition_of(stored[0].pk) == partitions.DEFAULT
    assert partition_of(stored[1].pk) == partitions.partition_name(day(0))
    assert [p.ts for p in stored_points(pk=stored[0].pk)] == [far]


def test_a_copy_into_the_parent_routes_each_row_to_its_partition(stream):
    project, service, environment = stream
    rows = [(noon(0), 1.0), (noon(-20), 2.0)]
    text = "".join(
        f"{project.pk}\t{service.pk}\t{environment.pk}\t\\N\tx\t\\N\t{ts.isoformat()}\t1\t"
        f"{copy_bytea(struct.pack('>q', micros(ts)))}\t{copy_bytea(struct.pack('>d', v))}\n"
        for ts, v in rows
    )
    with connection.cursor() as cursor:
        cursor.copy_expert(
            f"COPY {partitions.TABLE} (project_id, service_id, environment_id, deploy_id, name, labels, minute, count, "
            "stamps, values) FROM STDIN",
            io.StringIO(text),
        )
    where = {p.value: partition_of(c.pk) for c in MetricChunk.objects.filter(name="x") for p in stored_points(pk=c.pk)}
    assert where == {1.0: partitions.partition_name(day(0)), 2.0: partitions.DEFAULT}


def test_points_posted_through_the_api_are_stored_in_todays_partition(stream, api):
    body = {"points": [{"service": "fraud-scorer", "environment": "production", "name": "errors", "value": 3,
                        "timestamp": timezone.now().isoformat()}]}  # fmt: skip
    response = api.post("/api/v1/metrics", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 202, response.content
    stored = MetricChunk.objects.get(name="errors")
    assert partition_of(stored.pk) == partitions.partition_name(timezone.now().astimezone(UTC).date())


def test_creating_a_partition_moves_that_days_points_out_of_the_default_partition(stream):
    later = MetricChunk.objects.bulk_create([point(stream, noon(12), value=float(i)) for i in range(5)])
    assert {partition_of(p.pk) for p in later} == {partitions.DEFAULT}
    created = partitions.partitions_ensure(today=day(12), days_ahead=0)
    assert partitions.partition_name(day(12)) in created
    assert {partition_of(p.pk) for p in later} == {partitions.partition_name(day(12))}
    assert sorted(p.value for p in stored_points(minute=noon(12))) == [0, 1, 2, 3, 4]


def test_retention_drops_whole_expired_day_partitions_and_keeps_today(stream, settings):
    settings.METRIC_RETENTION_DAYS = 30
    partitions.partitions_ensure(today=day(-40), days_ahead=3)  # days -41 … -37, all past the cutoff
    partitions.partitions_ensure(today=day(0))
    old = MetricChunk.objects.bulk_create([point(stream, noon(-40), value=float(i)) for i in range(3)])
    stray = MetricChunk.objects.bulk_create([point(stream, noon(-35), value=9.0)])  # no partition: default
    today = MetricChunk.objects.bulk_create([point(stream, noon(0), value=7.0)])
    assert partition_of(old[0].pk) == partitions.partition_name(day(-40))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {partitions.partition_name(day(-40))}")

    assert metrics_retention() == 4  # 3 from the dropped partition's statistics, 1 deleted from the default
    days = partitions.day_partitions()
    assert not [d for d in days if d <= day(-37)]  # every expired day partition is gone, not emptied
    assert day(0) in days and day(-1) in days
    assert list(MetricChunk.objects.values_list("pk", flat=True)) == [today[0].pk]
    assert not MetricChunk.objects.filter(pk=stray[0].pk).exists()


def test_retention_keeps_a_day_partition_until_its_whole_day_is_past_the_cutoff(stream, settings):
    settings.METRIC_RETENTION_DAYS = 1
    partitions.partitions_ensure(today=day(0))
    early = datetime.combine(day(-1), datetime.min.time(), tzinfo=UTC) + timedelta(minutes=1)
    kept = MetricChunk.objects.bulk_create([point(stream, early)])
    metrics_retention()
    # yesterday's partition still has a part within retention: it stays whole, with its oldest point
    assert day(-1) in partitions.day_partitions()
    assert MetricChunk.objects.filter(pk=kept[0].pk).exists()


def test_the_judges_window_query_reads_only_the_partitions_of_its_days():
    partitions.partitions_ensure(today=day(0))
    start = noon(-1)
    window = MetricChunk.objects.filter(
        name="latency_ms", deploy_id=1, minute__gte=start, minute__lt=start + timedelta(hours=20)
    )
    plan = window.values_list("stamps", "values").explain()
    scanned = {name for name in partitions.day_partitions().values() if name in plan}
    assert scanned == {partitions.partition_name(day(-1)), partitions.partition_name(day(0))}
    assert partitions.DEFAULT not in plan  # its days are covered by partitions: the default is pruned too
    one_day = MetricChunk.objects.filter(name="x", minute__gte=noon(1), minute__lt=noon(1) + timedelta(hours=1))
    plan = one_day.explain()
    assert [name for name in partitions.day_partitions().values() if name in plan] == [
        partitions.partition_name(day(1))
    ]


def _migrate(target: tuple[str, str] | None = None) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target] if target else executor.loader.graph.leaf_nodes())


def _raw_points(where: str = "") -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name, ts, value, labels, deploy_id FROM impact_metricpoint {where} ORDER BY name, ts")  # noqa: S608
        return [(name, ts, value, json.loads(labels) if isinstance(labels, str) else labels, deploy)
                for name, ts, value, labels, deploy in cursor.fetchall()]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_points_stored_before_the_partitioning_and_chunk_migrations_stay_readable(stream):
    """Points stored in the plain table (0005) are partitioned by day (0006), then cut into chunks (0010)."""
    project, service, environment = stream
    try:
        _migrate(("impact", "0005_impact_report_mode_windows_segments"))
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass('impact_metricpoint')")
            assert cursor.fetchone()[0] == "r"  # the plain table again (the migrations reverse)
            for ts, value in (
                (noon(0), 1.0),
                (noon(-3), 2.0),
                (noon(-200), 3.0),
                (noon(0) + timedelta(seconds=7), 4.0),
            ):
                cursor.execute(
                    "INSERT INTO impact_metricpoint (project_id, service_id, environment_id, name, ts, value, labels) "
                    "VALUES (%s, %s, %s, 'old', %s, %s, %s) RETURNING id",
                    [project.pk, service.pk, environment.pk, ts, value, '{"region": "eu"}' if value == 4.0 else None],
                )
        _migrate(("impact", "0006_metricpoint_partitioned_by_day"))
        assert [value for _, _, value, *_ in _raw_points()] == [3.0, 2.0, 1.0, 4.0]
        with connection.cursor() as cursor:
            cursor.execute("SELECT tableoid::regclass::text, value FROM impact_metricpoint ORDER BY value")
            where = dict((value, table) for table, value in cursor.fetchall())
        assert where[2.0] == f"impact_metricpoint_p{day(-3):%Y%m%d}"  # the kept days got partitions
        assert where[3.0] == "impact_metricpoint_default"  # past retention: in the default, deleted next
        _migrate()
        assert partitions.partitioned()
        assert [(p.ts, p.value, p.labels) for p in stored_points(name="old")] == [
            (noon(-200), 3.0, None), (noon(-3), 2.0, None), (noon(0), 1.0, None),
            (noon(0) + timedelta(seconds=7), 4.0, {"region": "eu"}),
        ]  # fmt: skip
        chunks = {c.minute: partition_of(c.pk) for c in MetricChunk.objects.filter(name="old")}
        assert chunks[noon(-3)] == partitions.partition_name(day(-3))
        assert chunks[noon(-200)] == partitions.DEFAULT
    finally:
        _migrate()


@pytest.mark.django_db(transaction=True)
def test_the_chunk_migration_reverses_to_every_point_and_forwards_again_to_the_same_points(stream):
    project, service, environment = stream
    now = noon(0)
    odd = [0.1, -0.0, 5e-324, float("inf"), -1e308, 1 / 3]
    chunks = [
        MetricChunk(project=project, service=service, environment=environment, name=f"m{i % 2}", minute=now,
                    labels={"path": "C:\\v2", "q": 'a "b"\tc'} if i == 1 else None, count=3,
                    stamps=struct.pack(">3q", *[micros(now) + i * 1000 + k for k in range(3)]),
                    values=struct.pack(">3d", *odd[i : i + 3]))
        for i in range(3)
    ]  # fmt: skip
    MetricChunk.objects.bulk_create(chunks)
    before = [(p.name, p.ts, p.value, p.labels) for p in stored_points()]
    assert len(before) == 9
    try:
        _migrate(("impact", "0009_metricpoint_no_primary_key_sequence_cache"))
        points = _raw_points()
        assert [(name, ts, value, labels) for name, ts, value, labels, _ in points] == before
        assert math.copysign(1.0, points[1][2]) == -1.0  # -0.0 kept its sign
        with connection.cursor() as cursor:
            cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass('impact_metricpoint')")
            assert cursor.fetchone()[0] == "p"  # the points table as 0009 left it: partitioned by day
            cursor.execute("SELECT cache_size FROM pg_sequences WHERE sequencename = 'impact_metricpoint_point_id_seq'")
            assert cursor.fetchone()[0] == 1000
        _migrate()
        assert [(p.name, p.ts, p.value, p.labels) for p in stored_points()] == before
        assert MetricChunk.objects.count() == 2  # one chunk per series and minute: m0's two chunks become one
    finally:
        _migrate()


def test_the_chunk_table_has_no_unique_index_and_ids_come_from_a_cached_sequence(stream):
    """Nothing reads a chunk by id: a primary key would be one more B-tree insert per chunk (migrations 0009, 0010)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexrelid::regclass::text, indisunique FROM pg_index WHERE indrelid = to_regclass(%s)",
            [partitions.TABLE],
        )
        indexes = dict(cursor.fetchall())
        cursor.execute("SELECT cache_size FROM pg_sequences WHERE sequencename = 'impact_metricchunk_chunk_id_seq'")
        cache = cursor.fetchone()[0]
    assert indexes == {"chunk_deploy_name_minute": False, "chunk_minute_brin": False}
    assert cache == 1000
    stored = MetricChunk.objects.bulk_create([point(stream, noon(0), value=v) for v in (1.0, 2.0)])
    later = MetricChunk.objects.bulk_create([point(stream, noon(0), value=3.0)])
    ids = [p.pk for p in stored + later]
    assert ids == sorted(set(ids))  # distinct and increasing within a connection


def test_the_points_admin_reads_only_the_newest_partitions(admin_client, stream):
    from metrics.impact.admin import MetricChunkAdmin

    partitions.partitions_ensure(today=day(0))
    MetricChunk.objects.bulk_create([point(stream, noon(0)), point(stream, noon(-1))])
    request = admin_client.get("/admin/impact/metricchunk/").wsgi_request
    with mock.patch("metrics.impact.admin.timezone.now", return_value=noon(0)):  # not in the day's first minutes
        queryset = MetricChunkAdmin(MetricChunk, admin.site).get_queryset(request)
    assert list(queryset.values_list("minute", flat=True)) == [noon(0)]
    plan = queryset.order_by("-minute")[:50].explain()
    assert partitions.partition_name(day(-1)) not in plan
    assert partitions.partition_name(day(0)) in plan
