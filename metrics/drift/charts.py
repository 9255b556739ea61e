"""Plotly figures for the drift section of the deploy page, built from a stored drift report."""

from __future__ import annotations

import itertools
import math
from typing import Any

from metrics.chart_labels import plain
from metrics.chart_theme import Figure, figure, hline, trace

VERDICT_COLOURS = {"drifted": "#c0362c", "expected": "#a86400", "stable": "#1f8a4c", "insufficient_data": "#9aa1b1"}
BASELINE_COLOUR, CURRENT_COLOUR = "#7d8799", "#3056d3"
SEVERITY_FLOOR = 0.01  # log axis: a perfectly stable column still shows a stub


def severity_bars(columns: list[dict]) -> Figure:
    """One bar per judged column: its score relative to its threshold (1 = the threshold).

    The raw column name rides along last in customdata: the page's script opens that column's overlay."""
    judged = [c for c in columns if c["verdict"] != "insufficient_data"]
    severities = [max(c["severity"] or 0.0, SEVERITY_FLOOR) for c in judged]
    bars = trace(
        "bar",
        x=[plain(c["column"]) for c in judged],
        y=severities,
        marker={"color": [VERDICT_COLOURS[c["verdict"]] for c in judged]},
        customdata=[
            [c["method"], _number(c["score"]), _number(c["threshold"]), c["verdict"], _why(c), c["column"]]
            for c in judged
        ],
        hovertemplate="%{x}<br>%{customdata[0]}: %{customdata[1]} (threshold %{customdata[2]})"
        "<br>%{customdata[3]}%{customdata[4]}<extra></extra>",
    )
    chart = figure(
        [bars],
        margin={"l": 50, "r": 10, "t": 10, "b": 90},
        height=320,
        yaxis={"type": "log", "title": {"text": "score ÷ threshold"}, **_log_ticks(severities)},
        xaxis={"tickangle": -45},
        showlegend=False,
    )
    hline(chart, 1.0, line={"color": "#1d2330", "dash": "dash"}, label="threshold")
    return chart


def _log_ticks(values: list[float]) -> dict[str, Any]:
    """Ticks at 1, 2 and 5 of each decade the bars span, written out in full: Plotly's own log ticks print
    the minor ones as bare digits, so 0.5 and 0.2 read "5" and "2"."""
    low = math.floor(math.log10(min([*values, SEVERITY_FLOOR])))
    high = math.ceil(math.log10(max([*values, 1.0]) * 1.05))
    ticks = [m * 10.0**e for e in range(low, high + 1) for m in (1, 2, 5) if m * 10.0**e <= 10.0**high]
    return {"tickvals": ticks, "ticktext": [f"{t:g}" for t in ticks]}


def distribution_overlay(column: dict) -> Figure:
    """Baseline against current: a histogram for numeric columns, category bars otherwise."""
    histogram = column.get("histogram")
    if histogram:
        edges = histogram["edges"]
        centres = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
        width = edges[1] - edges[0]
        traces = [
            _bar(centres, histogram["ref"], "baseline", BASELINE_COLOUR, width=width),
            _bar(centres, histogram["cur"], "this deploy", CURRENT_COLOUR, width=width),
        ]
    else:
        labels = [plain(b["label"]) for b in column["bins"]]
        ref_total = sum(b["ref"] for b in column["bins"]) or 1
        cur_total = sum(b["cur"] for b in column["bins"]) or 1
        traces = [
            _bar(labels, [b["ref"] / ref_total for b in column["bins"]], "baseline", BASELINE_COLOUR),
            _bar(labels, [b["cur"] / cur_total for b in column["bins"]], "this deploy", CURRENT_COLOUR),
        ]
    return figure(
        traces,
        barmode="overlay" if histogram else "group",
        margin={"l": 50, "r": 10, "t": 30, "b": 60},
        height=300,
        title={"text": plain(column["column"]), "font": {"size": 14}},
        yaxis={"title": {"text": "share of values"}, "tickformat": ".0%"},
        legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
    )


def _bar(x: list, y: list, name: str, colour: str, **extra: Any) -> dict[str, Any]:
    return trace("bar", x=x, y=y, name=name, marker={"color": colour}, opacity=0.6, **extra)


def _why(column: dict) -> str:
    """Why a drifted column drifted, for the hover (a column drifted by missing values alone says so)."""
    return "".join(f"<br>{plain(reason)}" for reason in column.get("why") or [])


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def drift_charts(columns: list[dict]) -> dict[str, Any]:
    """Everything the page's script draws: the bar chart and one overlay per column with data."""
    overlays = {c["column"]: distribution_overlay(c) for c in columns if c.get("histogram") or c.get("bins")}
    return {"bars": severity_bars(columns), "overlays": overlays}
