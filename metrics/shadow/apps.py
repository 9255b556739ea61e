from django.apps import AppConfig


class ShadowConfig(AppConfig):
    name = "metrics.shadow"
    label = "shadow"
    default_auto_field = "django.db.models.BigAutoField"
