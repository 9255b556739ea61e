from django.contrib import admin

from tracker.models import (
    ApiToken,
    AuditLog,
    EventCount,
    IdempotencyRecord,
    Membership,
    Project,
    ProviderHook,
    SigningSecret,
)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "require_signed_webhooks", "created_at")
    search_fields = ("slug", "name")
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("project", "user", "role")
    list_filter = ("role", "project")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "prefix", "scopes", "last_used_at", "revoked_at")
    list_filter = ("project",)
    # The hash is never useful to a person and the raw token is never stored.
    exclude = ("token_hash",)
    readonly_fields = ("prefix", "created_at", "last_used_at")

    def has_add_permission(self, request):
        return False  # tokens are issued by `manage.py issue_token`, which shows the raw value once


@admin.register(SigningSecret)
class SigningSecretAdmin(admin.ModelAdmin):
    list_display = ("project", "created_at", "revoked_at")
    exclude = ("secret_encrypted",)

    def has_add_permission(self, request):
        return False


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ("at", "project", "action", "actor_user", "actor_token", "target_type", "target_id")
    list_filter = ("project", "action")
    readonly_fields = [f.name for f in AuditLog._meta.fields]

    def has_add_permission(self, request):
        return False  # entries are what happened: written by the product, never by hand

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ("project", "kind", "key", "response_status", "created_at")
    list_filter = ("kind",)


@admin.register(ProviderHook)
class ProviderHookAdmin(admin.ModelAdmin):
    list_display = ("project", "provider", "created_at")
    exclude = ("secret_encrypted",)

    def has_add_permission(self, request):
        return False  # secrets are issued by the settings page or `manage.py issue_provider_secret`


@admin.register(EventCount)
class EventCountAdmin(admin.ModelAdmin):
    """Counters for /metrics: read-only, as a counter that goes back would confuse Prometheus."""

    list_display = ("name", "labels", "count", "total")
    search_fields = ("name",)

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
