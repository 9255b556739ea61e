"""Plotly figures of the pages that join several apps: the visual timeline, the service page and the DORA
weekly trends."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import plotly.graph_objects as go

from dashboard.selectors import VERDICT_LABELS, TimelinePoint
from metrics.chart_labels import plain

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


# One colour per combined verdict; the not-judged ones are grey (the chips use the same palette in app.css).
VERDICT_COLOURS = {
    "improved": "#0f8b8d",
    "healthy": "#2e9d5b",
    "marginal": "#d99a00",
    "degraded": "#c0362c",
    "rolled_back": "#7b3fa0",
    "failed": "#5b1a14",
    "pending": "#9aa3b2",
    "no_metrics": "#9aa3b2",
    "insufficient_data": "#9aa3b2",
}
LINE_COLOURS = ["#2f6fde", "#6b7a90", "#e07b39", "#8e5ccf", "#2aa198"]


def timeline_figure(
    points: list[TimelinePoint],
    deploy_url: Callable[[int], str],
    window: tuple[datetime | None, datetime | None],
    now: datetime,
) -> dict[str, Any]:
    """Every deploy as a marker on a time axis, one row per service and environment, coloured by its verdict."""
    figure = go.Figure()
    for key, colour in VERDICT_COLOURS.items():
        mine = [p for p in points if p.verdict.key == key]
        if mine:
            figure.add_trace(_deploy_markers(mine, key, colour, deploy_url))
    streams = sorted({plain(p.stream) for p in points}, reverse=True)
    figure.update_yaxes(type="category", categoryorder="array", categoryarray=streams, automargin=True)
    since, until = window
    start = since or min((p.deployed_at for p in points), default=None)
    if start and (since or until):
        # The chosen range, whole: an empty stretch at either end is part of the answer.
        figure.update_xaxes(range=[start, until or now])
    figure.update_layout(
        height=110 + 36 * max(len(streams), 1),
        margin={"l": 10, "r": 10, "t": 10, "b": 30},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        template="simple_white",
        hovermode="closest",
    )
    return json.loads(figure.to_json())


def _deploy_markers(points: list[TimelinePoint], key: str, colour: str, deploy_url: Callable) -> go.Scatter:
    return go.Scatter(
        x=[p.deployed_at for p in points],
        y=[plain(p.stream) for p in points],
        mode="markers",
        name=VERDICT_LABELS[key],
        marker={"color": colour, "size": 11, "line": {"color": "#fff", "width": 1}},
        customdata=[
            [
                deploy_url(p.id),
                plain(p.version),
                plain(p.commit_sha[:7] or "—"),
                plain(p.author or "—"),
                plain(p.model or "—"),
                plain(p.verdict.impact),
                plain(p.verdict.drift),
            ]
            for p in points
        ],
        hovertemplate="<b>%{customdata[1]}</b> · %{y}<br>%{x}<br>commit %{customdata[2]} by %{customdata[3]}"
        "<br>model %{customdata[4]}<br>%{customdata[5]}; %{customdata[6]}<extra>" + VERDICT_LABELS[key] + "</extra>",
    )


def service_metric_figure(
    name: str, trend: dict[str, list[tuple[datetime, float]]], deploys: list[TimelinePoint]
) -> dict[str, Any]:
    """One metric over time per environment, every deploy a vertical line coloured by its verdict."""
    figure = go.Figure()
    for index, (environment, rows) in enumerate(sorted(trend.items())):
        figure.add_trace(
            go.Scatter(
                x=[r[0] for r in rows], y=[r[1] for r in rows], mode="lines", name=plain(environment),
                line={"color": LINE_COLOURS[index % len(LINE_COLOURS)], "width": 1.5},
            )
        )  # fmt: skip
    for point in deploys:
        colour = VERDICT_COLOURS[point.verdict.key]
        figure.add_vline(x=point.deployed_at, line={"color": colour, "dash": "dot", "width": 1.5})
        figure.add_annotation(
            x=point.deployed_at, y=1, yref="paper", text=plain(point.version), showarrow=False, textangle=-90,
            font={"size": 9, "color": colour}, xanchor="right", yanchor="top",
            hovertext=plain(f"{point.stream} {point.version}: {point.verdict.label}"),
        )  # fmt: skip
    figure.update_layout(
        title={"text": plain(name), "font": {"size": 14}}, height=340, template="simple_white",
        margin={"l": 50, "r": 10, "t": 36, "b": 40}, legend={"orientation": "h", "y": -0.15}, hovermode="x unified",
    )  # fmt: skip
    return json.loads(figure.to_json())


def drift_share_figure(deploys: list[TimelinePoint], shares: dict[int, float]) -> dict[str, Any]:
    """The share of drifted columns at each deploy, one line per environment, markers in the verdict's colour."""
    figure = go.Figure()
    streams = sorted({p.stream for p in deploys if p.id in shares})
    for stream in streams:
        mine = sorted((p for p in deploys if p.stream == stream and p.id in shares), key=lambda p: p.deployed_at)
        figure.add_trace(
            go.Scatter(
                x=[p.deployed_at for p in mine], y=[shares[p.id] for p in mine], mode="lines+markers",
                name=plain(stream),
                marker={"color": [VERDICT_COLOURS[p.verdict.key] for p in mine], "size": 9},
                customdata=[plain(p.version) for p in mine],
                hovertemplate="%{customdata}: %{y:.0%} of columns drifted<extra>%{fullData.name}</extra>",
            )
        )  # fmt: skip
    figure.update_yaxes(tickformat=".0%", rangemode="tozero")
    figure.update_layout(
        height=260, template="simple_white", margin={"l": 50, "r": 10, "t": 10, "b": 40},
        legend={"orientation": "h", "y": -0.25},
    )  # fmt: skip
    return json.loads(figure.to_json())
