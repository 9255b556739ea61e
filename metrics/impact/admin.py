"""Django admin for impact: metric settings are editable; reports, rollups and batch ids are read-only."""

from datetime import timedelta

from django.contrib import admin
from django.utils import timezone

from metrics.impact.chunks import points_of
from metrics.impact.models import (
    ImpactReport,
    MetricBatch,
    MetricChunk,
    MetricLabelSet,
    MetricName,
    MetricRollup,
    MetricSetting,
)


@admin.register(MetricSetting)
class MetricSettingAdmin(admin.ModelAdmin):
    list_display = ("name", "service", "direction", "allowed_change", "critical", "min_samples", "warmup_minutes")
    list_filter = ("project", "direction", "critical")
    search_fields = ("name", "service__name")
    raw_id_fields = ("service",)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ImpactReport)
class ImpactReportAdmin(ReadOnlyAdmin):
    list_display = ("deploy", "verdict", "score", "final", "computed_at", "compute_ms")
    list_filter = ("verdict", "final")
    raw_id_fields = ("deploy",)


@admin.register(MetricRollup)
class MetricRollupAdmin(ReadOnlyAdmin):
    list_display = ("name", "service", "environment", "minute", "deploy_key", "count", "min_value", "max_value")
    list_filter = ("project",)
    search_fields = ("name",)
    # The table is large: no full count on the change list.
    show_full_result_count = False


@admin.register(MetricBatch)
class MetricBatchAdmin(ReadOnlyAdmin):
    list_display = ("batch_id", "project", "points", "received_at")
    search_fields = ("batch_id",)


@admin.register(MetricChunk)
class MetricChunkAdmin(ReadOnlyAdmin):
    """The chunks of points received in the last RECENT, newest first: a look at what arrives, not a browser of the
    table. A chunk is one series' points in one minute of one batch; its row shows how many and their range.

    The biggest table has no index on id on PostgreSQL: the list is filtered and ordered by minute, which reads only
    the newest day partitions through their BRIN index on `minute`, and a row shows the whole chunk, so there is no
    page per chunk (no lookup by id). No joins, no full count."""

    RECENT = timedelta(minutes=10)
    list_display = ("minute", "name", "count", "value_range", "labels", "deploy_id", "service_id", "environment_id",
                    "project_id")  # fmt: skip
    list_display_links = None
    list_select_related = False
    show_full_result_count = False
    raw_id_fields = ("project", "service", "environment", "deploy")
    ordering = ("-minute",)
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).filter(minute__gte=timezone.now() - self.RECENT)

    @admin.display(description="values (min … max)")
    def value_range(self, chunk: MetricChunk) -> str:
        _, values = points_of(chunk.stamps, chunk.values)
        return f"{values.min():g} … {values.max():g}" if len(values) else "—"


@admin.register(MetricName)
class MetricNameAdmin(ReadOnlyAdmin):
    """The series register: deleting a name (or a label set) frees room under the caps at once."""

    list_display = ("name", "service", "last_seen")
    list_filter = ("project",)
    search_fields = ("name", "service__name")
    raw_id_fields = ("project", "service")


@admin.register(MetricLabelSet)
class MetricLabelSetAdmin(ReadOnlyAdmin):
    list_display = ("key", "metric", "last_seen")
    search_fields = ("metric__name", "key")
    raw_id_fields = ("metric",)
