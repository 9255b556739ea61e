"""Django admin for impact: metric settings are editable; reports, rollups and batch ids are read-only."""

from django.contrib import admin

from metrics.impact.models import (
    ImpactReport,
    MetricBatch,
    MetricLabelSet,
    MetricName,
    MetricPoint,
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


@admin.register(MetricPoint)
class MetricPointAdmin(ReadOnlyAdmin):
    # The biggest table: no full count, no joins in the list, ids instead of dropdowns.
    list_display = ("id", "name", "ts", "value", "deploy_id")
    list_select_related = False
    show_full_result_count = False
    raw_id_fields = ("project", "service", "environment", "deploy")
    ordering = ("-id",)
    list_per_page = 50


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
