"""What every chart of the pages shares: a small white theme, and figures written as the plain JSON plotly.js reads.

Plotly's graph_objects validate, deep-copy and walk their property tree on every update, even when built without
validation: that was most of a deploy page's server time (and of the timeline's, the service page's and DORA's).
The pages draw a handful of cartesian traces, shapes and annotations, so their figures are written here as the
dicts plotly.js reads (https://plotly.com/javascript/reference/): `figure()`, `trace()`, the spanning shapes plotly.py
adds with add_vrect/add_vline/add_hline, and a row of panels as make_subplots lays them out. Tests check every chart
against plotly's own schema (tests/metrics/test_chart_figures.py) and the browser tests draw them.

Times go in as ISO strings (`iso`), as plotly.py's encoder writes them: json_script's encoder would write UTC as
"Z" and cut microseconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

Figure = dict[str, Any]

_AXIS = {
    "linecolor": "rgb(36,36,36)",
    "showgrid": False,
    "showline": True,
    "ticks": "outside",
    "title": {"standoff": 15},
    "zeroline": False,
    "automargin": True,
}
# The cartesian part of plotly.py's "simple_white" template, as the deploy, compare and drift charts use it.
THEME: dict[str, Any] = {
    "layout": {
        "colorway": ["#1F77B4", "#FF7F0E", "#2CA02C", "#D62728", "#9467BD", "#8C564B", "#E377C2", "#7F7F7F"],
        "font": {"color": "rgb(36,36,36)"},
        "hoverlabel": {"align": "left"},
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "xaxis": _AXIS,
        "yaxis": _AXIS,
    }
}
_SIMPLE_WHITE_AXIS = {**_AXIS, "gridcolor": "rgb(232,232,232)", "zerolinecolor": "rgb(36,36,36)"}
# All of "simple_white" that a cartesian chart reads, as the timeline, service and DORA charts were drawn with it
# (titles at the left, shapes at 0.3 opacity, ten colours).
SIMPLE_WHITE: dict[str, Any] = {
    "layout": {
        **THEME["layout"],
        "autotypenumbers": "strict",
        "colorway": [*THEME["layout"]["colorway"], "#BCBD22", "#17BECF"],
        "hovermode": "closest",
        "xaxis": _SIMPLE_WHITE_AXIS,
        "yaxis": _SIMPLE_WHITE_AXIS,
        "shapedefaults": {"fillcolor": "black", "line": {"width": 0}, "opacity": 0.3},
        "annotationdefaults": {"arrowhead": 0, "arrowwidth": 1},
        "title": {"x": 0.05},
    }
}


def figure(data: Iterable[dict] | None = None, *, template: dict[str, Any] = THEME, **layout: Any) -> Figure:
    """A figure with the pages' theme."""
    return {"data": list(data or []), "layout": {"template": template, **layout}}


def trace(kind: str, **properties: Any) -> dict[str, Any]:
    """One trace of `kind` (a type the static Plotly bundle holds: tests/test_plotly_bundle.py)."""
    return {"type": kind, **properties}


def iso(values: Iterable[datetime]) -> list[str]:
    return [value.isoformat() for value in values]


def when(value: Any) -> Any:
    """A time as an ISO string; anything else (a number on a numeric axis) as it is."""
    return value.isoformat() if isinstance(value, datetime) else value


def add(figure: Figure, key: str, item: dict[str, Any]) -> None:
    """Append a shape or an annotation to the layout."""
    figure["layout"].setdefault(key, []).append(item)


# --- panels side by side (make_subplots(rows=1, cols=n, shared_yaxes=True)) ---------------------------------------


def side_by_side(figure: Figure, count: int, spacing: float) -> None:
    """`count` x-axes side by side over one shared y-axis, laid out as plotly.py's make_subplots does."""
    width = (1 - spacing * (count - 1)) / count
    for index in range(count):
        x, y = _axis("x", index + 1), _axis("y", index + 1)
        start = index * (width + spacing)
        figure["layout"][x] = {"anchor": _ref("y", index + 1), "domain": [start, 1.0 if index == count - 1 else
                                                                         start + width]}  # fmt: skip
        figure["layout"][y] = {"anchor": _ref("x", index + 1), "domain": [0.0, 1.0]}
        if index:
            figure["layout"][y] |= {"matches": "y", "showticklabels": False}


def on_panel(item: dict[str, Any], column: int) -> dict[str, Any]:
    """A trace drawn on the panel `column` (1-based)."""
    return {**item, "xaxis": _ref("x", column), "yaxis": _ref("y", column)}


def panel_has_traces(figure: Figure, column: int) -> bool:
    x, y = _ref("x", column), _ref("y", column)
    return any(t.get("xaxis", "x") == x and t.get("yaxis", "y") == y for t in figure["data"])


def _axis(letter: str, column: int) -> str:
    return f"{letter}axis" if column == 1 else f"{letter}axis{column}"


def _ref(letter: str, column: int) -> str:
    return letter if column == 1 else f"{letter}{column}"


# --- shapes that span an axis (plotly.py's add_vrect, add_vline, add_hline) ------------------------------------------


def vrect(
    figure: Figure, x0: Any, x1: Any, *, colour: str, opacity: float, column: int = 1, label: str = "",
    position: str = "top left", font_size: int = 10,
) -> None:  # fmt: skip
    """A shaded span of x across the panel's height, with its label at one of its top corners."""
    x, y = _ref("x", column), f"{_ref('y', column)} domain"
    add(figure, "shapes", {"type": "rect", "x0": when(x0), "x1": when(x1), "xref": x, "y0": 0, "y1": 1, "yref": y,
                           "fillcolor": colour, "opacity": opacity, "line": {"width": 0}})  # fmt: skip
    if label:
        right = position.endswith("right")
        add(figure, "annotations", {"text": label, "x": when(x1 if right else x0), "xref": x, "xanchor":
                                    "right" if right else "left", "y": 1, "yref": y, "yanchor": "top",
                                    "showarrow": False, "font": {"size": font_size}})  # fmt: skip


def vline(figure: Figure, x: Any, *, line: dict[str, Any]) -> None:
    """A vertical line across the plot's height."""
    add(figure, "shapes", {"type": "line", "x0": when(x), "x1": when(x), "xref": "x", "y0": 0, "y1": 1,
                           "yref": "y domain", "line": line})  # fmt: skip


def hline(figure: Figure, y: float, *, line: dict[str, Any], label: str = "") -> None:
    """A horizontal line across the plot's width, its label above its right end."""
    add(figure, "shapes", {"type": "line", "x0": 0, "x1": 1, "xref": "x domain", "y0": y, "y1": y, "yref": "y",
                           "line": line})  # fmt: skip
    if label:
        add(figure, "annotations", {"text": label, "x": 1, "xref": "x domain", "xanchor": "right", "y": y,
                                    "yref": "y", "yanchor": "bottom", "showarrow": False})  # fmt: skip
