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
        "quality": _quality_rows((report.result or {}).get("quality") if report else None),
    }


QUALITY_FIGURES = [
    ("auc", "ROC AUC"),
    ("brier", "Brier score"),
    ("accuracy", "accuracy at 0.5"),
    ("positive_rate", "positive rate (labels)"),
    ("mean_prediction", "mean prediction"),
    ("calibration_gap", "calibration gap"),
    ("mae", "mean absolute error"),
    ("rmse", "root mean square error"),
    ("bias", "bias (prediction - label)"),
    ("n", "labelled rows"),
]


def _quality_rows(quality: dict | None) -> list[tuple[str, Any, Any]]:
    """(figure, baseline, this deploy) for every figure either side has."""
    if not quality or not (quality.get("baseline") or quality.get("current")):
        return []
    ref, cur = quality.get("baseline") or {}, quality.get("current") or {}
    return [(label, ref.get(key), cur.get(key)) for key, label in QUALITY_FIGURES if key in ref or key in cur]


def _row(column: dict) -> dict[str, Any]:
    return {
        **column,
        "method_name": METHOD_NAMES.get(column["method"], column["method"] or "—"),
        "sampled": not column["exact"],
    }


@register.filter
def sig(value: float | None, digits: int = 4) -> str:
    """A number to `digits` significant figures, a count in full ("—" for none)."""
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:.{digits}g}"


@register.filter
def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"
