"""Plotly figures for the DORA page: each figure as a weekly trend, built server side and embedded as JSON."""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go

TREND_COLOUR, MODEL_COLOUR = "#2f6fde", "#a86400"

# figure key -> (title, y-axis label, scale applied to the stored value)
TRENDS = {
    "deploys": ("Deploys per week", "deploys", 1),
    "lead_time_hours": ("Lead time (median)", "hours", 1),
    "change_failure_rate": ("Change failure rate", "%", 100),
    "time_to_restore_hours": ("Time to restore (median)", "hours", 1),
}


def dora_trend_figures(trend: list[dict]) -> list[dict[str, Any]]:
    """One small chart per DORA figure, a point per week; deploys split into code and model-only."""
    weeks = [row["week_end"] for row in trend]
    figures = []
    for key, (title, unit, scale) in TRENDS.items():
        values = [None if row[key] is None else row[key] * scale for row in trend]
        figure = go.Figure(go.Scatter(x=weeks, y=values, mode="lines+markers", name=title, line_color=TREND_COLOUR))
        if key == "deploys":
            figure.data[0].update(y=[row["code_deploys"] for row in trend], name="code deploys")
            figure.add_trace(
                go.Scatter(
                    x=weeks, y=[row["model_deploys"] for row in trend], mode="lines+markers",
                    name="model-only deploys", line_color=MODEL_COLOUR,
                )
            )  # fmt: skip
        figure.update_layout(
            title={"text": title, "font": {"size": 13}},
            height=220,
            margin={"l": 45, "r": 10, "t": 32, "b": 36},
            yaxis={"title": unit, "rangemode": "tozero"},
            xaxis={"title": None},
            legend={"orientation": "h", "y": -0.25},
            showlegend=key == "deploys",
            template="simple_white",
        )
        figures.append(json.loads(figure.to_json()))
    return figures
