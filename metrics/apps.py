from django.apps import AppConfig


class MetricsConfig(AppConfig):
    name = "metrics"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from metrics.drift import receivers  # noqa: F401 - connects the drift receivers
        from metrics.impact import receivers as impact_receivers  # noqa: F401 - connects the impact receivers
