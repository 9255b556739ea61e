from django.apps import AppConfig


class ImpactConfig(AppConfig):
    name = "metrics.impact"
    label = "impact"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from metrics.impact import receivers  # noqa: F401 - connects the impact receivers
        from metrics.impact.services import INGESTED_BATCHES, INGESTED_POINTS
        from tracker.counters import counter_declare

        counter_declare(INGESTED_POINTS, "Metric points stored (POST /api/v1/metrics).", {})
        counter_declare(INGESTED_BATCHES, "Batches stored, by kind (points or prediction rows).", {"kind": ["metrics"]})
