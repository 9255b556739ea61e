"""The impact parts of the deploy page and the timeline, as template tags (constant queries per deploy)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils import timezone

from deployments.models import Deploy
from metrics.impact import selectors
from metrics.impact.charts import metric_figure

register = template.Library()

CLASS_BADGES = {"Pass": "healthy", "High": "degraded", "Low": "degraded", "NoData": "insufficient_data"}
DIRECTION_WORDS = {"increase_is_bad": "increase is bad", "decrease_is_bad": "decrease is bad", "either": "any change"}


@register.inclusion_tag("metrics/impact/_section.html", takes_context=True)
def impact_section(context: dict, deploy: Deploy) -> dict[str, Any]:
    """Two queries whatever the number of points: the report, then the per-minute rollups of its metrics."""
    report = selectors.report_of(deploy)
    metrics = report.metrics if report else []
    series = selectors.chart_series(deploy=deploy, names=[m["name"] for m in metrics], until=timezone.now())
    baseline = deploy.baseline
    charts = [
        metric_figure(
            name=m["name"],
            rows=series.get(m["name"], []),
            deploy_id=deploy.pk,
            deploy_label=deploy.version,
            deployed_at=deploy.deployed_at,
            baseline_id=baseline.pk if baseline else None,
            baseline_label=baseline.version if baseline else None,
            baseline_deployed_at=baseline.deployed_at if baseline else None,
            windows=(m.get("windows") or {}),
            failed=bool(m.get("failed")),
        )
        for m in metrics
    ]
    return {
        "project": context.get("project"),
        "deploy": deploy,
        "report": report,
        "rows": [_row(m, i) for i, m in enumerate(metrics)],
        "charts": charts,
    }


def _row(metric: dict, index: int) -> dict[str, Any]:
    badge = "improved" if metric.get("improved") else CLASS_BADGES.get(metric["classification"], "pending")
    return {
        **metric,
        "index": index,
        "badge": badge,
        "label": "Improved" if metric.get("improved") else metric["classification"],
        "direction_words": DIRECTION_WORDS.get(metric["direction"], metric["direction"]),
        "allowed_text": f"{metric['allowed_change'] * 100:g} %",
    }


@register.filter
def num(value: float | None, digits: int = 4) -> str:
    """A number to `digits` significant figures ("—" for none)."""
    return "—" if value is None else f"{value:.{digits}g}"


@register.filter
def signed_percent(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1%}"
