from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Rollback requests complete on deploy signals, and their Celery tasks must be registered.
        from deployments.rollbacks import receivers, tasks  # noqa: F401
