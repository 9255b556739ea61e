"""Admin for rollback requests (read-mostly: state changes go through the services, not the admin)."""

from django.contrib import admin

from rollbacks.models import RollbackAttempt, RollbackCallback, RollbackEndpoint, RollbackRequest


@admin.register(RollbackEndpoint)
class RollbackEndpointAdmin(admin.ModelAdmin):
    list_display = ("project", "format", "url", "updated_at")
    exclude = ("secret_encrypted", "token_encrypted")


class RollbackAttemptInline(admin.TabularInline):
    model = RollbackAttempt
    extra = 0
    readonly_fields = ("number", "at", "url", "status_code", "latency_ms", "error", "response_excerpt")


class RollbackCallbackInline(admin.TabularInline):
    model = RollbackCallback
    extra = 0
    readonly_fields = ("at", "status", "outcome", "ci_url", "message", "via_token")


@admin.register(RollbackRequest)
class RollbackRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "project", "service", "environment", "state", "requested_by", "requested_at")
    list_filter = ("project", "kind", "state")
    raw_id_fields = ("deploy", "target", "requested_by_user", "requested_by_token")
    # The state machine is forward-only (rollbacks.states): CI's callback, the sender and the sweep move it.
    readonly_fields = (
        "kind",
        "state",
        "dispatched_at",
        "finished_at",
        "completed_by",
        "dispatch_due_at",
        "dispatch_claimed_at",
    )
    exclude = ("callback_token_hash", "callback_token_encrypted")
    inlines = [RollbackAttemptInline, RollbackCallbackInline]


@admin.register(RollbackAttempt)
class RollbackAttemptAdmin(admin.ModelAdmin):
    list_display = ("request", "number", "at", "status_code", "error")


@admin.register(RollbackCallback)
class RollbackCallbackAdmin(admin.ModelAdmin):
    list_display = ("request", "at", "status", "outcome")
