"""What every chart of the pages shares: a small white theme and figures built without per-property validation.

Plotly's named templates ("plotly", "simple_white") embed ~9 KB of settings for every trace type in each figure's
JSON, and graph_objects validate and deep-copy every property as it is set. The pages draw a handful of cartesian
traces, so their figures carry only the theme they use (`THEME`, the cartesian part of "simple_white") and are
built unvalidated (`figure()`): the property names are fixed here in code and covered by the browser tests that
draw them, so validation would only cost time on each page view (about half of the deploy page's server time).
"""

from __future__ import annotations

import json
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

_AXIS = {
    "linecolor": "rgb(36,36,36)",
    "showgrid": False,
    "showline": True,
    "ticks": "outside",
    "title": {"standoff": 15},
    "zeroline": False,
    "automargin": True,
}
# The cartesian part of plotly.py's "simple_white" template, as the deploy, compare and DORA charts use it.
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


def figure(data: list | None = None, **layout: Any) -> go.Figure:
    """An unvalidated figure with the pages' theme (and no plotly.py default template)."""
    return go.Figure(data=data, layout={"template": THEME, **layout}, _validate=False)


def subplots(**kwargs: Any) -> go.Figure:
    """make_subplots onto an unvalidated, themed figure."""
    return make_subplots(figure=figure(), **kwargs)


def as_json(built: go.Figure) -> dict[str, Any]:
    """The figure as the page embeds it (dates and NumPy values made plain by plotly's encoder)."""
    return json.loads(built.to_json())
