from django.apps import AppConfig


class DriftConfig(AppConfig):
    name = "metrics.drift"
    label = "drift"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from metrics.drift import receivers  # noqa: F401 - connects the drift receivers
        from metrics.drift.services import INGESTED_BATCHES, INGESTED_ROWS
        from tracker.counters import counter_declare

        counter_declare(INGESTED_ROWS, "Prediction sample rows stored (POST /api/v1/predictions).", {})
        counter_declare(
            INGESTED_BATCHES, "Batches stored, by kind (points or prediction rows).", {"kind": ["predictions"]}
        )
