from django.apps import AppConfig


class RollbacksConfig(AppConfig):
    name = "rollbacks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Rollback requests complete on deploy signals; the OpenAPI extension documents the callback token.
        from rollbacks import openapi, receivers  # noqa: F401
