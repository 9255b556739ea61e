"""Django admin for metric sources: settings and health visible, credentials never (write-only, encrypted)."""

from django.contrib import admin

from metrics.sources.models import MetricSource, SourceQuery


class SourceQueryInline(admin.TabularInline):
    model = SourceQuery
    extra = 0
    raw_id_fields = ("service",)


@admin.register(MetricSource)
class MetricSourceAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "kind", "url", "last_success_at", "last_error_at")
    list_filter = ("project", "kind")
    search_fields = ("name", "url")
    exclude = ("credentials_encrypted",)
    readonly_fields = ("last_success_at", "last_error_at", "last_error", "test_requested_at", "test_result")
    inlines = [SourceQueryInline]


@admin.register(SourceQuery)
class SourceQueryAdmin(admin.ModelAdmin):
    list_display = ("name", "service", "source", "step_seconds", "direction", "critical", "allowed_change")
    list_filter = ("direction", "critical")
    search_fields = ("name", "query")
    raw_id_fields = ("service", "source")
