from django.apps import AppConfig


class ImpactConfig(AppConfig):
    name = "metrics.impact"
    label = "impact"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from metrics.impact import receivers  # noqa: F401 - connects the impact receivers
