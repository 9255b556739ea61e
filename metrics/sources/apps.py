from django.apps import AppConfig


class SourcesConfig(AppConfig):
    name = "metrics.sources"
    label = "sources"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from metrics.sources.selectors import source_gauges, sources_section
        from tracker.prometheus import gauges_register
        from tracker.sections import settings_section_register

        # The settings page shows each source's health; /metrics exposes it for the team's own alerting.
        settings_section_register(
            template="metrics/sources/_settings_section.html", selector=sources_section, position=15
        )
        gauges_register(source_gauges)
