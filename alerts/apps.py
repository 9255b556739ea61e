from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from alerts import receivers  # noqa: F401 - connects the alerts receivers
        from alerts.selectors import alert_gauges, status_writeback_section
        from tracker.prometheus import gauges_register
        from tracker.sections import settings_section_register

        gauges_register(alert_gauges)

        # The project settings page links to the channels and rules (no data of its own).
        settings_section_register(template="alerts/_settings_section.html", selector=lambda project: None, position=10)
        settings_section_register(
            template="alerts/_writeback_section.html",
            selector=lambda project: status_writeback_section(project_id=project.pk),
            position=15,
        )
