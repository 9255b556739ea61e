"""Template tags for the deploy page: one query for the deploy's alerts, shared by badge and section."""

from __future__ import annotations

from django import template

from alerts.models import Alert
from deployments.models import Deploy

register = template.Library()


@register.simple_tag
def deploy_alerts(deploy: Deploy) -> list[Alert]:
    # Kept on the deploy object so the header badge and the section share one query.
    if not hasattr(deploy, "_alerts_for_page"):
        deploy._alerts_for_page = list(Alert.objects.filter(deploy=deploy).order_by("-started_at", "-id")[:50])
    return deploy._alerts_for_page


@register.simple_tag
def open_count(alerts: list[Alert]) -> int:
    return sum(1 for a in alerts if a.is_open)
