"""The drift parts of the deploy page and the timeline, as template tags (one selector call each)."""

from __future__ import annotations

from typing import Any

from django import template

from deployments.models import Deploy
from metrics.drift import selectors
from metrics.drift.charts import drift_charts

register = template.Library()

METHOD_NAMES = {
    "ks": "Kolmogorov-Smirnov p",
    "chisquare": "chi-square p (2 x k)",
    "chisquare_gof": "chi-square p (goodness of fit)",
    "z": "z-test p",
    "wasserstein": "Wasserstein ÷ std",
    "jensenshannon": "Jensen-Shannon",
    "psi": "PSI",
}


@register.inclusion_tag("metrics/drift/_section.html", takes_context=True)
def drift_section(context: dict, deploy: Deploy) -> dict[str, Any]:
    report = selectors.drift_report_get(deploy=deploy)
    columns = (report.result or {}).get("columns", []) if report else []
    return {
        "project": context.get("project"),
        "deploy": deploy,
        "report": report,
        "rows": [_row(c) for c in columns],
        "charts": drift_charts(columns) if columns else None,
    }


def _row(column: dict) -> dict[str, Any]:
    return {
        **column,
        "method_name": METHOD_NAMES.get(column["method"], column["method"] or "—"),
        "sampled": not column["exact"],
    }


@register.filter
def sig(value: float | None, digits: int = 4) -> str:
    """A number to `digits` significant figures ("—" for none)."""
    return "—" if value is None else f"{value:.{digits}g}"


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"
