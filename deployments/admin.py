from django.contrib import admin

from deployments.models import (
    Deploy,
    DeployCheck,
    DeployEvent,
    Environment,
    HookSettings,
    ModelVersionRecord,
    Service,
    ServiceSettings,
)


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "created_at")
    list_filter = ("project",)


@admin.register(Environment)
class EnvironmentAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "is_production")
    list_filter = ("project",)


class DeployEventInline(admin.TabularInline):
    model = DeployEvent
    extra = 0
    readonly_fields = ("at", "kind", "message", "details")


@admin.register(Deploy)
class DeployAdmin(admin.ModelAdmin):
    list_display = ("id", "service", "environment", "version", "status", "deployed_at", "is_rollback")
    list_filter = ("project", "status", "environment")
    search_fields = ("version", "commit_sha", "external_id", "author")
    raw_id_fields = ("baseline",)
    # Status only moves forward, through deploy_record and rollback detection: never by hand here.
    readonly_fields = ("status", "is_rollback", "rolled_back_by", "processing_claimed_at", "processed_at")
    inlines = [DeployEventInline]


@admin.register(DeployEvent)
class DeployEventAdmin(admin.ModelAdmin):
    list_display = ("deploy", "at", "kind", "message")


@admin.register(HookSettings)
class HookSettingsAdmin(admin.ModelAdmin):
    list_display = ("project", "updated_at")


@admin.register(ModelVersionRecord)
class ModelVersionRecordAdmin(admin.ModelAdmin):
    list_display = ("name", "version", "project", "run_id", "created_at")
    list_filter = ("project",)
    search_fields = ("name", "version", "run_id")


@admin.register(ServiceSettings)
class ServiceSettingsAdmin(admin.ModelAdmin):
    list_display = ("service", "environment", "observation_window_minutes", "impact_mode", "updated_at")
    list_filter = ("project",)


@admin.register(DeployCheck)
class DeployCheckAdmin(admin.ModelAdmin):
    list_display = ("name", "deploy", "kind", "status", "updated_at")
    list_filter = ("kind", "status")
    search_fields = ("name",)
    raw_id_fields = ("deploy",)
