"""Plotly figures of the pages that join several apps: the visual timeline, the service page and the DORA
weekly trends (plain figure dicts: metrics/chart_theme.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from dashboard.selectors import VERDICT_LABELS, TimelinePoint, TimelinePoints
from metrics.chart_labels import plain
from metrics.chart_theme import SIMPLE_WHITE, Figure, add, figure, iso, trace, vline, when
from tracker.script_json import EncodedList

TREND_COLOUR, MODEL_COLOUR = "#2f6fde", "#a86400"

# figure key -> (title, y-axis label, scale applied to the stored value)
TRENDS = {
    "deploys": ("Deploys per week", "deploys", 1),
    "lead_time_hours": ("Lead time (median)", "hours", 1),
    "change_failure_rate": ("Change failure rate", "%", 100),
    "time_to_restore_hours": ("Time to restore (median)", "hours", 1),
}


def dora_trend_figures(trend: list[dict]) -> list[Figure]:
    """One small chart per DORA figure, a point per week; deploys split into code and model-only."""
    weeks = iso(row["week_end"] for row in trend)
    figures = []
    for key, (title, unit, scale) in TRENDS.items():
        if key == "deploys":
            lines = [
                _weekly(weeks, [row["code_deploys"] for row in trend], "code deploys"),
                _weekly(weeks, [row["model_deploys"] for row in trend], "model-only deploys", MODEL_COLOUR),
            ]
        else:
            lines = [_weekly(weeks, [None if row[key] is None else row[key] * scale for row in trend], title)]
        figures.append(
            figure(
                lines,
                template=SIMPLE_WHITE,
                title={"text": title, "font": {"size": 13}},
                height=220,
                margin={"l": 45, "r": 10, "t": 32, "b": 36},
                yaxis={"title": {"text": unit}, "rangemode": "tozero"},
                xaxis={"title": {}},
                legend={"orientation": "h", "y": -0.25},
                showlegend=key == "deploys",
            )
        )
    return figures


def _weekly(weeks: list[str], values: list, name: str, colour: str = TREND_COLOUR) -> dict[str, Any]:
    return trace("scatter", x=weeks, y=values, mode="lines+markers", name=name, line={"color": colour})


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
    points: Sequence[TimelinePoint],
    deploy_path: str,
    window: tuple[datetime | None, datetime | None],
    now: datetime,
) -> Figure:
    """Every deploy as a marker on a time axis, one row per service and environment, coloured by its verdict;
    a marker links to `deploy_path` + the deploy's id."""
    # The selector's TimelinePoints hash by their stamp (cheap); any other sequence is made a tuple of points.
    markers, streams = _markers(points if isinstance(points, TimelinePoints) else tuple(points), deploy_path)
    chart = figure(
        markers,
        template=SIMPLE_WHITE,
        yaxis={"type": "category", "categoryorder": "array", "categoryarray": streams, "automargin": True},
        height=110 + 36 * max(len(streams), 1),
        margin={"l": 10, "r": 10, "t": 10, "b": 30},
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0},
        hovermode="closest",
    )
    chart["data"] = markers  # the kept list itself: its JSON text is made once (EncodedList)
    since, until = window
    start = since or min((p.deployed_at for p in points), default=None)
    if start and (since or until):
        # The chosen range, whole: an empty stretch at either end is part of the answer.
        chart["layout"]["xaxis"] = {"range": iso((start, until or now))}
    return chart


@lru_cache(maxsize=8)
def _markers(points: Sequence[TimelinePoint], deploy_path: str) -> tuple[EncodedList, list[str]]:
    """The markers, grouped by verdict, with their JSON text, and the streams (the chart's rows). Kept for the last
    few sets of deploys each process drew: a page viewed again with nothing changed (the selector's stamp, or the
    same deploys, fields and verdicts compared whole) reuses them instead of building and encoding 2,000 markers
    (~10 ms). Shared between requests: never changed once built."""
    by_verdict: dict[str, list[TimelinePoint]] = {key: [] for key in VERDICT_COLOURS}
    for point in points:
        by_verdict[point.verdict.key].append(point)
    markers = EncodedList(
        _deploy_markers(mine, key, VERDICT_COLOURS[key], deploy_path) for key, mine in by_verdict.items() if mine
    )
    return markers, sorted({plain(p.stream) for p in points}, reverse=True)


def _deploy_markers(points: list[TimelinePoint], key: str, colour: str, deploy_path: str) -> dict[str, Any]:
    return trace(
        "scatter",
        x=iso(p.deployed_at for p in points),
        y=[plain(p.stream) for p in points],
        mode="markers",
        name=VERDICT_LABELS[key],
        marker={"color": colour, "size": 11, "line": {"color": "#fff", "width": 1}},
        customdata=[
            [
                f"{deploy_path}{p.id}/",
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
) -> Figure:
    """One metric over time per environment, every deploy a vertical line coloured by its verdict."""
    lines = [
        trace("scatter", x=iso(r[0] for r in rows), y=[r[1] for r in rows], mode="lines", name=plain(environment),
              line={"color": LINE_COLOURS[index % len(LINE_COLOURS)], "width": 1.5})
        for index, (environment, rows) in enumerate(sorted(trend.items()))
    ]  # fmt: skip
    chart = figure(
        lines, template=SIMPLE_WHITE, title={"text": plain(name), "font": {"size": 14}}, height=340,
        margin={"l": 50, "r": 10, "t": 36, "b": 40}, legend={"orientation": "h", "y": -0.15}, hovermode="x unified",
    )  # fmt: skip
    for point in deploys:
        colour = VERDICT_COLOURS[point.verdict.key]
        vline(chart, point.deployed_at, line={"color": colour, "dash": "dot", "width": 1.5})
        add(chart, "annotations", {
            "x": when(point.deployed_at), "y": 1, "yref": "paper", "text": plain(point.version), "showarrow": False,
            "textangle": -90, "font": {"size": 9, "color": colour}, "xanchor": "right", "yanchor": "top",
            "hovertext": plain(f"{point.stream} {point.version}: {point.verdict.label}"),
        })  # fmt: skip
    return chart


def drift_share_figure(deploys: list[TimelinePoint], shares: dict[int, float]) -> Figure:
    """The share of drifted columns at each deploy, one line per environment, markers in the verdict's colour."""
    lines = []
    for stream in sorted({p.stream for p in deploys if p.id in shares}):
        mine = sorted((p for p in deploys if p.stream == stream and p.id in shares), key=lambda p: p.deployed_at)
        lines.append(
            trace(
                "scatter", x=iso(p.deployed_at for p in mine), y=[shares[p.id] for p in mine], mode="lines+markers",
                name=plain(stream),
                marker={"color": [VERDICT_COLOURS[p.verdict.key] for p in mine], "size": 9},
                customdata=[plain(p.version) for p in mine],
                hovertemplate="%{customdata}: %{y:.0%} of columns drifted<extra>%{fullData.name}</extra>",
            )
        )  # fmt: skip
    return figure(
        lines, template=SIMPLE_WHITE, yaxis={"tickformat": ".0%", "rangemode": "tozero"}, height=260,
        margin={"l": 50, "r": 10, "t": 10, "b": 40}, legend={"orientation": "h", "y": -0.25},
    )  # fmt: skip
