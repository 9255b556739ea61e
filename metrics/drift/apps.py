from django.apps import AppConfig


class DriftConfig(AppConfig):
    name = "metrics.drift"
    label = "drift"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from metrics.drift import receivers  # noqa: F401 - connects the drift receivers
