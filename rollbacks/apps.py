from django.apps import AppConfig


class RollbacksConfig(AppConfig):
    name = "rollbacks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Rollback requests complete on deploy signals; the OpenAPI extension documents the callback token.
        from rollbacks import openapi, receivers  # noqa: F401
        from rollbacks.selectors import endpoint_section, rollback_gauges
        from tracker.prometheus import gauges_register
        from tracker.sections import settings_section_register

        gauges_register(rollback_gauges)

        settings_section_register(
            template="rollbacks/_settings_section.html",
            selector=lambda project: endpoint_section(project_id=project.pk),
            position=20,
        )
