from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from deployments.selectors import deploy_gauges
        from tracker.prometheus import gauges_register

        gauges_register(deploy_gauges)
