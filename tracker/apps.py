from django.apps import AppConfig


class TrackerConfig(AppConfig):
    name = "tracker"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the OpenAPI authentication extensions with drf-spectacular.
        from tracker import (
            openapi,  # noqa: F401
            task_metrics,
        )
        from tracker.prometheus import gauges_register

        # Task durations are measured in whichever process runs the task; every app's counters are exported.
        task_metrics.connect()
        gauges_register(task_metrics.families)
