from django.apps import AppConfig


class DeploymentsConfig(AppConfig):
    name = "deployments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from deployments.selectors import deploy_gauges
        from deployments.webhooks_api import REJECTION_REASONS, WEBHOOKS_REJECTED
        from tracker.counters import counter_declare
        from tracker.models import Provider
        from tracker.prometheus import gauges_register

        gauges_register(deploy_gauges)
        labels = {"provider": Provider.values, "reason": REJECTION_REASONS}
        counter_declare(WEBHOOKS_REJECTED, "Native provider webhooks refused, by provider and reason.", labels)
