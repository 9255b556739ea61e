from django.contrib import admin

from alerts.models import Alert, AlertGroup, AlertRule, Channel, Delivery, DeliveryAttempt, Silence, StatusWriteback


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ("key", "project", "kind", "severity", "threshold", "column", "enabled")
    list_filter = ("kind", "severity", "enabled")


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "rule_key", "status", "severity", "deploy", "started_at", "resolved_reason")
    list_filter = ("status", "severity", "kind")
    raw_id_fields = ("deploy", "group", "rule", "acknowledged_by", "resolved_by")


@admin.register(Silence)
class SilenceAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "__str__", "starts_at", "ends_at", "created_by")


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    """Secrets stay write-only here too: the encrypted columns are not shown."""

    list_display = ("name", "project", "kind", "url_hint", "enabled", "disabled_reason", "consecutive_failures")
    list_filter = ("kind", "enabled")
    exclude = ("url_encrypted", "secret_encrypted")


@admin.register(StatusWriteback)
class StatusWritebackAdmin(admin.ModelAdmin):
    """The provider token stays write-only: its encrypted column is not shown."""

    list_display = ("project", "provider", "enabled", "api_url", "updated_at")
    list_filter = ("provider", "enabled")
    exclude = ("token_encrypted",)


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    readonly_fields = ("number", "at", "status_code", "latency_ms", "error", "address", "retry_at", "response_excerpt")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("message_id", "channel", "reason", "event_action", "status", "attempts", "next_attempt_at")
    list_filter = ("status", "reason")
    inlines = [AttemptInline]


@admin.register(AlertGroup)
class AlertGroupAdmin(admin.ModelAdmin):
    list_display = ("key", "project", "service", "environment", "next_flush_at", "last_notified_at")
    raw_id_fields = ("service", "environment")


@admin.register(DeliveryAttempt)
class DeliveryAttemptAdmin(admin.ModelAdmin):
    list_display = ("delivery", "number", "at", "status_code", "latency_ms", "error")
    raw_id_fields = ("delivery",)
    show_full_result_count = False
