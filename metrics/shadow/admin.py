"""Django admin for shadow pairing: computed state, read-only."""

from django.contrib import admin

from metrics.shadow.models import ShadowSample, ShadowSampler


class ReadOnlyAdmin(admin.ModelAdmin):
    # Samples are computed state: editing them by hand would make a verdict lie.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ShadowSampler)
class ShadowSamplerAdmin(ReadOnlyAdmin):
    list_display = ("deploy", "kept", "seen", "cut", "updated_at")
    raw_id_fields = ("deploy",)


@admin.register(ShadowSample)
class ShadowSampleAdmin(ReadOnlyAdmin):
    list_display = ("deploy", "request_hash", "prediction", "label")
    raw_id_fields = ("deploy",)
    show_full_result_count = False
