"""Django admin for drift: settings are editable; columns, sketches, batches and reports are read-only."""

from django.contrib import admin

from metrics.drift.models import (
    ColumnSketch,
    DriftReport,
    DriftSetting,
    FairnessCount,
    QualitySketch,
    SampleBatch,
    SampleColumn,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    # Sketches and reports are computed state: editing them by hand would make a verdict lie.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(DriftSetting)
class DriftSettingAdmin(admin.ModelAdmin):
    list_display = ("service", "drift_share", "categorical_method")
    raw_id_fields = ("service",)


@admin.register(SampleColumn)
class SampleColumnAdmin(ReadOnlyAdmin):
    list_display = ("name", "service", "role", "kind", "method", "threshold", "first_seen_at")
    list_filter = ("role", "kind")
    search_fields = ("name", "service__name")
    exclude = ("edges",)


@admin.register(ColumnSketch)
class ColumnSketchAdmin(ReadOnlyAdmin):
    list_display = ("deploy", "column", "n", "nulls", "updated_at")
    raw_id_fields = ("deploy", "column")
    exclude = ("data",)
    show_full_result_count = False


@admin.register(QualitySketch)
class QualitySketchAdmin(ReadOnlyAdmin):
    list_display = ("deploy", "n", "updated_at")
    raw_id_fields = ("deploy",)
    exclude = ("data",)


@admin.register(SampleBatch)
class SampleBatchAdmin(ReadOnlyAdmin):
    list_display = ("batch_id", "project", "rows", "received_at")
    search_fields = ("batch_id",)
    show_full_result_count = False


@admin.register(DriftReport)
class DriftReportAdmin(ReadOnlyAdmin):
    list_display = (
        "deploy",
        "status",
        "n_drifted",
        "n_columns",
        "drift_share",
        "dataset_drift",
        "final",
        "computed_at",
        "compute_ms",
    )
    list_filter = ("status", "dataset_drift", "final")
    raw_id_fields = ("deploy", "baseline")


@admin.register(FairnessCount)
class FairnessCountAdmin(ReadOnlyAdmin):
    list_display = ("deploy", "column", "group", "threshold", "n", "positives", "tp", "fn", "fp", "tn")
    raw_id_fields = ("deploy", "column")
    show_full_result_count = False
