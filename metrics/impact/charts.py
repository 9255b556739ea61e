"""Plotly figures for the deploy page's impact section, built server side and embedded as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import plotly.graph_objects as go

from metrics.chart_labels import plain

BASELINE_COLOUR = "#6b7a90"
CURRENT_COLOUR = "#2f6fde"
OTHER_COLOUR = "#c4ccd8"
BAD_COLOUR = "#c9372c"


def _trace(rows: list[tuple], label: str, colour: str, width: float = 2) -> go.Scatter:
    return go.Scatter(
        x=[r[0] for r in rows],
        y=[r[3] for r in rows],
        mode="lines+markers" if len(rows) < 60 else "lines",
        name=plain(label),
        line={"color": colour, "width": width},
        marker={"size": 4},
        customdata=[[r[2], r[4], r[5]] for r in rows],
        hovertemplate="%{x}<br>mean %{y:.4g} (n=%{customdata[0]}, min %{customdata[1]:.4g}, max %{customdata[2]:.4g})"
        "<extra>%{fullData.name}</extra>",
    )


@dataclass(frozen=True)
class DeployMark:
    """A deploy as a chart marks it: its series (by deploy id), its label, when it went out."""

    id: int
    label: str
    deployed_at: datetime


class ImpactChartData(Protocol):
    """What the charts need of the deploy page's impact section (plain data; the selector builds it)."""

    rows: list[dict[str, Any]]  # the report's metrics, each with its judged `windows`
    series: dict[str, list[tuple]]  # per metric: (minute, deploy id, count, mean, min, max)
    deploy: DeployMark
    baseline: DeployMark | None


def impact_figures(section: ImpactChartData) -> list[dict[str, Any]]:
    """One figure per judged metric, in the order of the section's rows."""
    return [metric_figure(section, metric) for metric in section.rows]


def metric_figure(section: ImpactChartData, metric: dict[str, Any]) -> dict[str, Any]:
    """Per-minute means across the baseline and this deploy, deploy markers, both judged windows shaded."""
    rows, windows = section.series.get(metric["name"], []), metric.get("windows") or {}
    deploy, baseline = section.deploy, section.baseline
    baseline_id = baseline.id if baseline else None
    mine = [r for r in rows if r[1] == deploy.id]
    theirs = [r for r in rows if baseline_id and r[1] == baseline_id]
    others = [r for r in rows if r[1] not in (deploy.id, baseline_id)]
    figure = go.Figure()
    if others:
        figure.add_trace(_trace(others, "other deploys", OTHER_COLOUR, 1))
    if theirs:
        figure.add_trace(_trace(theirs, f"baseline {baseline.label}", BASELINE_COLOUR))
    colour = BAD_COLOUR if metric.get("failed") else CURRENT_COLOUR
    figure.add_trace(_trace(mine, f"this deploy {deploy.label}", colour))
    _shade(figure, windows)
    _marker(figure, deploy.deployed_at, deploy.label, CURRENT_COLOUR)
    if baseline is not None:
        _marker(figure, baseline.deployed_at, baseline.label, BASELINE_COLOUR)
    figure.update_xaxes(range=_view(rows, windows))
    figure.update_layout(
        title={"text": plain(metric["name"]), "font": {"size": 14}},
        height=280,
        margin={"l": 50, "r": 10, "t": 36, "b": 50},
        legend={"orientation": "h", "y": -0.3},
        hovermode="x unified",
        template="simple_white",
    )
    return json.loads(figure.to_json())


def _view(rows: list[tuple], windows: dict | None) -> list[datetime] | None:
    """Frame the data and the judged windows: a baseline deployed days earlier must not squash the series
    into a sliver (its marker then lies outside the view; the legend still names it)."""
    times = [r[0] for r in rows]
    for key in ("baseline", "current"):
        times += [_as_time(t) for t in ((windows or {}).get(key) or [])[:2] if t]
    if len(times) < 2:
        return None
    start, end = min(times), max(times)
    pad = (end - start) * 0.04
    return [start - pad, end + pad]


def _as_time(value: datetime | str) -> datetime:
    # Windows come back from the stored report as ISO strings.
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


def _shade(figure: go.Figure, windows: dict | None) -> None:
    if not windows:
        return
    shading = (("baseline", BASELINE_COLOUR, "baseline window", "top left"),
               ("current", CURRENT_COLOUR, "judged window", "top right"))  # fmt: skip
    for key, colour, label, position in shading:
        start, end = (windows.get(key) or [None, None])[:2]
        if start and end and start != end:
            figure.add_vrect(
                x0=start, x1=end, fillcolor=colour, opacity=0.08, line_width=0,
                annotation_text=label, annotation_position=position, annotation_font_size=10,
            )  # fmt: skip


def _marker(figure: go.Figure, at: datetime, label: str, colour: str) -> None:
    figure.add_shape(
        type="line", x0=at, x1=at, y0=0, y1=1, yref="paper", line={"color": colour, "dash": "dot", "width": 1.5}
    )
    figure.add_annotation(
        x=at, y=1, yref="paper", text=f"deploy {plain(label)}", showarrow=False, font={"size": 10, "color": colour},
        xanchor="left", yanchor="bottom",
    )  # fmt: skip
